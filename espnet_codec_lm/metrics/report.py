"""RESULTS.md in the paper's four tables, from every scored experiment under an exp root.

Rows are systems (``name`` in the experiment's ``system.yaml``: No Initialization, Text LLM
Initialization, Speech CPT, Speech & Text CPT, then any other name); columns are the test sets
found in ``*/decode_*/scores.yaml`` with the table's metrics. A cell with no scored run reads
"-", a metric whose model was unavailable reads "not computed: <reason>". Under each table: the
paper's numbers for the same systems (reference rows) and the evaluation protocol actually used
(models, normaliser, BLEU signature, samples, seed, decoding options, test-set sizes). A fifth
table shows held-out text perplexity before and after CPT (``ppl.yaml``; forgetting).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import textwrap
from pathlib import Path
from typing import Any

import yaml

from espnet_codec_lm.metrics.paper import PAPER, PAPER_PROTOCOL, SYSTEMS
from espnet_codec_lm.utils.fileio import atomic_path, atomic_write_text

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class TableSpec:
    """One results table: which tasks feed it and which metrics are its columns."""

    key: str
    title: str
    tasks: tuple[str, ...]
    metrics: tuple[str, ...]


TABLES = (
    TableSpec("asr", "ASR (WER / CER, %)", ("asr",), ("wer", "cer")),
    TableSpec(
        "tts", "TTS (UTMOS, WER / CER %, SPK-SIM)", ("tts",), ("utmos", "wer", "cer", "spk_sim")
    ),
    TableSpec("s2tt", "S2TT (BLEU)", ("s2tt",), ("bleu",)),
    TableSpec("s2st", "S2ST (ASR-BLEU, UTMOS)", ("s2st",), ("asr_bleu", "utmos")),
)
LABELS = {
    "wer": "WER",
    "cer": "CER",
    "bleu": "BLEU",
    "asr_bleu": "ASR-BLEU",
    "utmos": "UTMOS",
    "spk_sim": "SPK-SIM",
}
DECIMALS = {"utmos": 2, "spk_sim": 2}  # others: 1, as in the paper


@dataclasses.dataclass
class ScoredRun:
    """One scored decode dir."""

    system: str
    exp_dir: Path
    decode_dir: Path
    scores: dict[str, Any]
    mtime: float


def _read_yaml(path: Path) -> dict:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as e:
        raise ValueError(f"{path}: cannot read: {e}") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f":{mark.line + 1}" if mark is not None else ""
        raise ValueError(f"{path}{where}: malformed YAML: {getattr(e, 'problem', e)}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping")
    return data


def system_of(exp_dir: Path, exp_root: Path) -> str:
    """The system name from the nearest ``system.yaml`` at or above ``exp_dir`` (within the root);
    the experiment directory's name when there is none."""
    d = exp_dir
    while True:
        f = d / "system.yaml"
        if f.is_file():
            meta = _read_yaml(f)
            name = meta.get("name") or meta.get("system")  # lm_train writes 'system:'
            if not name:
                raise ValueError(f"{f}: no 'name' (or 'system') key")
            return str(name)
        if d == exp_root or d.parent == d or exp_root not in d.parents:
            return exp_dir.name
        d = d.parent


def collect(exp_root: str | Path) -> list[ScoredRun]:
    """Every ``decode_*/scores.yaml`` under ``exp_root``."""
    root = Path(exp_root).resolve()
    runs = []
    for f in sorted(root.rglob("decode_*/scores.yaml")):
        dd = f.parent
        runs.append(
            ScoredRun(system_of(dd.parent, root), dd.parent, dd, _read_yaml(f), f.stat().st_mtime)
        )
    return runs


def system_order(names) -> list[str]:
    """The paper's four systems first, in its order, then others alphabetically."""
    names = set(names)
    return [s for s in SYSTEMS if s in names] + sorted(names - set(SYSTEMS))


def fmt(metric: str, value: Any) -> str:
    """A table cell: a rounded number, the 'not computed: ...' text, or '-'."""
    if value is None:
        return "-"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if math.isnan(value):
            return "-"
        return f"{value:.{DECIMALS.get(metric, 1)}f}"
    return str(value).replace("|", "/")


def _column_name(run: ScoredRun, metric: str, prefix: bool) -> str:
    """Column header: ``<test set> [SRC->TGT] <METRIC>``; the test set is left out of TTS/S2ST
    headers when the table has only one."""
    s = run.scores
    if not prefix:
        return LABELS[metric]
    name = str(s.get("test_set", run.decode_dir.name))
    if s.get("task") in ("s2tt", "s2st") and s.get("src_lang") and s.get("tgt_lang"):
        name += f" {str(s['src_lang']).upper()}->{str(s['tgt_lang']).upper()}"
    return f"{name} {LABELS[metric]}"


@dataclasses.dataclass
class Table:
    """A filled table: header, rows of cells, the runs behind it, and notes."""

    spec: TableSpec
    columns: list[str]
    rows: list[tuple[str, list[str]]]
    values: dict[tuple[str, str], Any]
    runs: list[ScoredRun]
    notes: list[str]


def build_table(spec: TableSpec, runs: list[ScoredRun]) -> Table:
    """Systems x (test set, metric) cells from the runs of the table's tasks."""
    mine = [r for r in runs if r.scores.get("task") in spec.tasks]
    n_sets = len({r.scores.get("test_set") for r in mine})
    prefix = n_sets > 1 or spec.key in ("asr", "s2tt")
    columns: list[str] = []
    cells: dict[tuple[str, str], ScoredRun] = {}
    notes = []
    for r in sorted(mine, key=lambda r: (str(r.scores.get("test_set")), r.mtime)):
        for m in spec.metrics:
            if m not in r.scores:
                continue
            col = _column_name(r, m, prefix)
            if col not in columns:
                columns.append(col)
            prev = cells.get((r.system, col))
            if prev is not None and prev.decode_dir != r.decode_dir:
                notes.append(
                    f"{r.system} / {col}: several runs ({prev.decode_dir}, {r.decode_dir}); "
                    "the most recently scored is shown"
                )
            cells[(r.system, col)] = r  # sorted by mtime: the latest wins
    values = {}
    for (system, col), r in cells.items():
        metric = next(m for m in spec.metrics if _column_name(r, m, prefix) == col)
        values[(system, col)] = r.scores.get(metric)
    rows = []
    # The paper's four systems are always rows (their missing cells read "-"), then any other.
    for system in system_order({r.system for r in mine} | (set(SYSTEMS) if mine else set())):
        row = []
        for col in columns:
            r = cells.get((system, col))
            metric = next((m for m in spec.metrics if r and _column_name(r, m, prefix) == col), "")
            row.append(fmt(metric, values.get((system, col))))
        rows.append((system, row))
    return Table(spec, columns, rows, values, mine, sorted(set(notes)))


def _md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return out


def _distinct(values) -> str:
    seen = []
    for v in values:
        if v not in (None, "", {}) and v not in seen:
            seen.append(v)
    if not seen:
        return "-"
    txt = [
        ", ".join(f"{k}={w}" for k, w in v.items()) if isinstance(v, dict) else str(v) for v in seen
    ]
    return " | ".join(txt)


def protocol_lines(table: Table) -> list[str]:
    """The evaluation protocol actually used by the runs of a table (distinct values)."""
    runs = table.runs
    p = [r.scores.get("protocol") or {} for r in runs]
    lines = []
    if table.spec.key in ("tts", "s2st"):
        lines.append(
            f"ASR for {'WER' if table.spec.key == 'tts' else 'ASR-BLEU'}: {_distinct(x.get('asr') for x in p)}"
        )
        if table.spec.key == "tts":
            lines.append(
                f"Speaker model (SPK-SIM, cosine): {_distinct(x.get('speaker_model') for x in p)}"
            )
        lines.append(f"MOS model: {_distinct(x.get('mos_model') for x in p)}")
    if table.spec.key != "s2tt":
        lines.append(f"Normaliser: {_distinct(x.get('normaliser') for x in p)}")
    if table.spec.key in ("s2tt", "s2st"):
        lines.append(f"BLEU: {_distinct(x.get('bleu') for x in p)}")
    lines.append(
        f"Samples per input: {_distinct(r.scores.get('num_samples') for r in runs)} (scores averaged over samples)"
    )
    lines.append(f"Seed: {_distinct(x.get('seed') for x in p)}")
    lines.append(f"Decoding: {_distinct(x.get('decoding') for x in p)}")
    sizes = sorted({(str(r.scores.get("test_set")), r.scores.get("num_utts")) for r in runs})
    lines.append("Test sets: " + ", ".join(f"{t} ({n} utts)" for t, n in sizes))
    for key, label in (
        ("num_missing", "Missing outputs (scored as empty / ignored per config)"),
        ("num_empty_refs", "Empty references (not scored by any metric)"),
        ("num_empty_hyps", "Empty hypotheses (scored as empty)"),
    ):
        counts = [
            (r.system, r.scores.get("test_set"), r.scores[key]) for r in runs if r.scores.get(key)
        ]
        if counts:
            lines.append(f"{label}: " + ", ".join(f"{s} {t}: {n}" for s, t, n in counts))
    dropped = [
        (r.system, r.scores.get("test_set"), m, len(us))
        for r in runs
        for m, us in (r.scores.get("dropped") or {}).items()
    ]
    if dropped:
        lines.append(
            "Metrics over fewer utterances (not computable for some): "
            + ", ".join(f"{s} {t} {m}: {n} left out" for s, t, m, n in dropped)
        )
    return lines


def paper_lines(key: str) -> list[str]:
    """The paper's numbers for the same systems (reference rows)."""
    cols, rows = PAPER[key]
    body = [
        [f"paper: {s}"]
        + [fmt("utmos" if "UTMOS" in c or "SPK" in c else "", v) for c, v in zip(cols, rows[s])]
        for s in SYSTEMS
        if s in rows
    ]
    return [f"Reference (Shi et al. 2025; {PAPER_PROTOCOL[key]}):", ""] + _md_table(
        ["system", *cols], body
    )


# -- held-out text perplexity (forgetting) ----------------------------------------------------


def collect_ppl(exp_root: str | Path) -> list[tuple[str, Path, dict]]:
    """(system, file, content) of every ``ppl.yaml`` under ``exp_root`` in the ``sets`` format
    (``sets: {name: {ppl, base_ppl, num_tokens}}``); files in the LM trainer's own format
    (``text_ppl_init`` / ``text_ppl_final``) are read by :func:`collect_trainer_ppl`."""
    root = Path(exp_root).resolve()
    out = []
    for f in sorted(root.rglob("ppl.yaml")):
        data = _read_yaml(f)
        if _is_trainer_ppl(data):
            continue
        sets = data.get("sets")
        if not isinstance(sets, dict):
            raise ValueError(f"{f}: expected a 'sets' mapping (set name -> ppl, base_ppl)")
        out.append((system_of(f.parent, root), f, data))
    return out


def _is_trainer_ppl(data: dict) -> bool:
    return "sets" not in data and ("text_ppl_init" in data or "text_ppl_final" in data)


@dataclasses.dataclass
class TrainerPpl:
    """One LM experiment's held-out perplexity as the trainer records it (``ppl.yaml``)."""

    label: str
    system: str | None  # None: a text-only run (the recipe's text LLM)
    stage: str
    start_from: str
    ppl_start: float | None
    ppl_end: float | None
    file: str
    tokens: Any


def collect_trainer_ppl(exp_root: str | Path) -> list[TrainerPpl]:
    """Every trainer-format ``ppl.yaml`` under ``exp_root``, with the run's system and stage
    (``system.yaml``) and what it started from (``config.yaml``'s ``model.init``)."""
    root = Path(exp_root).resolve()
    out = []
    for f in sorted(root.rglob("ppl.yaml")):
        data = _read_yaml(f)
        if not _is_trainer_ppl(data):
            continue
        exp = f.parent
        meta = _read_yaml(exp / "system.yaml") if (exp / "system.yaml").is_file() else {}
        system = meta.get("name") or meta.get("system")
        stage = str(meta.get("stage") or "")
        cfg = _read_yaml(exp / "config.yaml") if (exp / "config.yaml").is_file() else {}
        init = str((cfg.get("model") or {}).get("init") or "")
        if init in ("none", ""):
            start_from = "random init" if init else "-"
        elif init == "text_llm":
            start_from = "text LLM"
        else:  # a checkpoint of ours: name its experiment (exp/lm_cpt_x/model -> lm_cpt_x)
            ckpt = Path(init)
            start_from = ckpt.parent.name if ckpt.name == "model" else ckpt.name
        if system:
            label = f"{system} (SFT)" if stage == "sft" else str(system)
        else:
            label = f"text LLM ({exp.name})"
        out.append(
            TrainerPpl(
                label,
                str(system) if system else None,
                stage,
                start_from,
                data.get("text_ppl_init"),
                data.get("text_ppl_final"),
                str(data.get("text_ppl_file") or "held-out text"),
                data.get("text_ppl_tokens", "?"),
            )
        )
    return out


def trainer_ppl_lines(entries: list[TrainerPpl]) -> list[str]:
    """Text LLM first, then each system's CPT and SFT runs: perplexity at the start and end of
    the run and the end relative to the text LLM (the base every initialised system starts from)."""
    base = [e for e in entries if e.system is None]
    ref = base[-1].ppl_end if base else None
    order = {s: i for i, s in enumerate(system_order({e.system for e in entries if e.system}))}
    ranked = sorted(
        entries,
        key=lambda e: (e.system is not None, order.get(e.system, -1), e.stage != "cpt", e.label),
    )
    rows = []
    for e in ranked:
        vs = "-"
        if e.system is not None and ref and e.ppl_end:
            vs = f"{100.0 * (e.ppl_end - ref) / ref:+.1f}%"
        stage = "text LLM" if e.system is None else e.stage.upper() or "-"
        rows.append([e.label, stage, e.start_from, fmt("", e.ppl_start), fmt("", e.ppl_end), vs])
    files = sorted({f"{Path(e.file).name}: {e.tokens} tokens" for e in entries})
    return _md_table(
        ["model", "stage", "starts from", "ppl at start", "ppl at end", "end vs text LLM"], rows
    ) + [
        "",
        f"Held-out text ({'; '.join(files)}), perplexity over the text vocabulary. The text LLM "
        "is the base of every initialised system; a higher perplexity than it after CPT / SFT = "
        "forgetting. A CPT run can start above the text LLM's final perplexity when each line is "
        "scored after `<text_start>` (`eval.text_ppl_segment`): the boundary tokens are new rows "
        "of the extended vocabulary (the base LLM brings only its text vocabulary), untrained at "
        "step 0; compare the end of a run with the text LLM.",
    ]


def ppl_lines(entries: list[tuple[str, Path, dict]]) -> list[str]:
    """Perplexity of the base text LLM and of each system on held-out text, and the change."""
    if not entries:
        return ["No `ppl.yaml` found (written by the LM trainer in each LM experiment)."]
    sets = sorted({s for _, _, d in entries for s in d["sets"]})
    header = ["system"]
    for s in sets:
        header += [f"{s} base LLM", f"{s} this model", f"{s} change"]
    by_system = {}
    for system, f, d in entries:
        by_system[system] = (f, d)  # one ppl.yaml per system; a later file wins
    rows = []
    for system in system_order(by_system):
        _, d = by_system[system]
        row = [system]
        for s in sets:
            e = d["sets"].get(s) or {}
            ppl, base = e.get("ppl"), e.get("base_ppl")
            change = f"{100.0 * (ppl - base) / base:+.1f}%" if ppl and base else "-"
            row += [fmt("", base), fmt("", ppl), change]
        rows.append(row)
    tokens = ", ".join(
        f"{s}: {next((d['sets'][s].get('num_tokens') for _, _, d in entries if s in d['sets']), '?')} tokens"
        for s in sets
    )
    return _md_table(header, rows) + [
        "",
        f"Held-out sets: {tokens}. Higher perplexity after CPT = forgetting.",
    ]


# -- plots and the whole page ----------------------------------------------------------------


def cpt_mixture_lines(exp_root: str | Path) -> list[str]:
    """One line per CPT run: the mixture as trained and the sources left out on purpose
    (``cpt_mixture`` of its ``system.yaml``; the paper trains all six tasks)."""
    rows = []
    for f in sorted(Path(exp_root).resolve().rglob("system.yaml")):
        meta = _read_yaml(f)
        mix = meta.get("cpt_mixture")
        if meta.get("stage") != "cpt" or not isinstance(mix, dict):
            continue
        shares = ", ".join(f"{t} {p:.2f}" for t, p in (mix.get("shares") or {}).items())
        dropped = ", ".join(mix.get("dropped") or []) or "none"
        rows.append(
            f"- {meta.get('system') or f.parent.name} (`{f.parent.name}`): {shares}; "
            f"left out on purpose: {dropped}"
        )
    if not rows:
        return []
    return [
        "",
        "## CPT mixture",
        "",
        "Share of each source in the CPT runs (as trained):",
        "",
        *rows,
    ]


def plot_table(table: Table, path: Path) -> bool:
    """A grouped bar chart (one panel per column, one bar per system); False if nothing numeric."""
    numeric = {
        k: v for k, v in table.values.items() if isinstance(v, (int, float)) and not math.isnan(v)
    }
    cols = [c for c in table.columns if any(k[1] == c for k in numeric)]
    if not cols:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    systems = [s for s, _ in table.rows]
    fig, axes = plt.subplots(1, len(cols), figsize=(3.2 * len(cols) + 1, 3.6), squeeze=False)
    for ax, col in zip(axes[0], cols):
        ys = [numeric.get((s, col), 0.0) for s in systems]
        bars = ax.bar(range(len(systems)), ys, color=[f"C{i}" for i in range(len(systems))])
        ax.bar_label(
            bars,
            labels=[f"{y:.2f}" if (s, col) in numeric else "-" for s, y in zip(systems, ys)],
            fontsize=7,
        )
        ax.set_title(col, fontsize=9)
        ax.set_xticks(range(len(systems)), [textwrap.fill(s, 11) for s in systems], fontsize=7)
    fig.suptitle(table.spec.title, fontsize=10)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return True


def render(
    exp_root: str | Path, output: str | Path, plots: bool = True, title: str = "Results"
) -> str:
    """Write RESULTS.md (and PNG charts beside it); returns the markdown."""
    output = Path(output)
    runs = collect(exp_root)
    lines = [
        f"# {title}",
        "",
        f"Generated by `python -m espnet_codec_lm.bin.report` from {len(runs)} scored decode "
        f"directories under `{exp_root}`. Cells: '-' = not run/scored; 'not computed: ...' = the "
        "model needed for the metric was not available. Sampled outputs are averaged over samples.",
    ]
    for spec in TABLES:
        table = build_table(spec, runs)
        lines += ["", f"## {spec.title}", ""]
        if table.rows:
            lines += _md_table(["system", *table.columns], [[s, *cells] for s, cells in table.rows])
            if plots:
                png = output.parent / f"{output.stem}_{spec.key}.png"
                if plot_table(table, png):
                    lines += ["", f"![{spec.title}]({png.name})"]
        else:
            lines.append("No scored runs for this table.")
        lines += ["", *paper_lines(spec.key), ""]
        if table.runs:
            lines += ["Evaluation protocol (this table's runs):", ""]
            lines += [f"- {x}" for x in protocol_lines(table)]
            lines += [f"- Note: {n}" for n in table.notes]
    lines += cpt_mixture_lines(exp_root)
    lines += ["", "## Held-out text perplexity before / after CPT (forgetting)", ""]
    old_format, trainer_format = collect_ppl(exp_root), collect_trainer_ppl(exp_root)
    if old_format or not trainer_format:
        lines += ppl_lines(old_format)
    if trainer_format:
        lines += ([""] if old_format else []) + trainer_ppl_lines(trainer_format)
    text = "\n".join(lines) + "\n"
    atomic_write_text(output, text)
    return text
