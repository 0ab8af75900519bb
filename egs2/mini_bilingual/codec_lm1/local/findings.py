"""The paper's findings, checked on the mini recipe's scores (a part of local/results.py).

:func:`system_values` gathers one number per (system, metric) from the scored decode dirs, the
trainer's ``ppl.yaml`` files and each system's held-out loss per task (local/losses.py);
:func:`findings_lines` writes one paragraph per finding of the paper (Shi et al. 2025, Tables
1-4) saying whether it holds here, with the numbers, or which systems it would need, and whether
it holds by the held-out loss of the task; :func:`goal_lines` compares the main system with the recipe's toy-scale goals.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

from espnet_codec_lm.metrics import paper

from .losses import TASKS, merged_valid, sft_runs

# (label, metric keys (the worst of them counts), goal of the default run, goal of the long run,
# direction); the toy-scale goals of the main system (doc/mini_recipe.md)
GOALS = [
    ("ASR WER, English (%)", ("asr_wer",), 30.0, 10.0, "max"),
    ("ASR CER, Mandarin (%)", ("asr_cer",), 25.0, 8.0, "max"),
    (
        "outputs in the target language, ASR and S2TT (%)",
        ("asr_target_lang", "s2tt_tl_en_zh", "s2tt_tl_zh_en"),
        98.0,
        100.0,
        "min",
    ),
    ("S2TT BLEU, EN->ZH", ("s2tt_en_zh",), 25.0, 40.0, "min"),
    ("S2TT BLEU, ZH->EN", ("s2tt_zh_en",), 25.0, 40.0, "min"),
    ("TTS WER by the recipe's ASR, English (%)", ("tts_wer",), 60.0, 25.0, "max"),
    ("TTS CER by the recipe's ASR, Mandarin (%)", ("tts_cer",), 60.0, 25.0, "max"),
    ("TTS samples that stop on their own within 0.5-2x (%)", ("tts_stopped",), 90.0, 98.0, "min"),
    ("S2ST ASR-BLEU, EN->ZH (default: > 0)", ("s2st",), 0.01, 15.0, "min"),
]
NI, TL, SP, ST = paper.SYSTEMS
(DUAL,) = paper.OTHER_SYSTEMS
CPT_SYSTEMS, NO_CPT = (SP, ST), (NI, TL)
NEAR_ZERO_BLEU = 5.0  # "did not converge": an S2ST ASR-BLEU below this
# TTS WER / CER at or above this for every system: no system's speech can be read, so the decoded
# metric cannot order them (differences are in the noise of unintelligible speech)
UNINTELLIGIBLE = 80.0


def _num(x) -> float | None:
    return float(x) if isinstance(x, (int, float)) and not math.isnan(float(x)) else None


def system_values(runs, exp_root: str | Path) -> dict[str, dict[str, float]]:
    """``{system: {metric key: value}}`` from ``metrics.report.collect`` runs and ``ppl.yaml``."""
    from espnet_codec_lm.metrics.report import collect_trainer_ppl

    out: dict[str, dict[str, float]] = {}
    for r in sorted(runs, key=lambda r: r.mtime):  # the latest scored run wins
        s, v = r.scores, out.setdefault(r.system, {})
        task = s.get("task")
        pair = f"{s.get('src_lang')}_{s.get('tgt_lang')}"
        picks = {
            "asr": {"asr_wer": "wer", "asr_cer": "cer", "asr_target_lang": "target_lang"},
            "tts": {
                "tts_wer": "wer",
                "tts_cer": "cer",
                "tts_spk": "spk_sim",
                "tts_stopped": "stopped_within_0.5_2x",
            },
            "s2tt": {f"s2tt_{pair}": "bleu", f"s2tt_tl_{pair}": "target_lang"},
            "s2st": {"s2st" if pair == "en_zh" else f"s2st_{pair}": "asr_bleu"},
        }.get(task, {})
        for key, metric in picks.items():
            if _num(s.get(metric)) is not None:
                v[key] = float(s[metric])
    for system, runs in sft_runs(Path(exp_root)).items():  # held-out loss per task (losses.py)
        v = merged_valid(runs) or {}
        for key, _ in TASKS:
            if _num(v.get(key)) is not None:
                out.setdefault(system, {})["loss_" + key.rsplit("/", 1)[-1]] = float(v[key])
    for e in collect_trainer_ppl(exp_root):
        if e.system is None:
            if _num(e.ppl_end) is not None:
                for v in out.values():
                    v.setdefault("ppl_text_llm", float(e.ppl_end))
                out.setdefault("", {})["ppl_text_llm"] = float(e.ppl_end)
        elif _num(e.ppl_end) is not None:
            out.setdefault(e.system, {})[f"ppl_{e.stage}"] = float(e.ppl_end)
    return out


def goal_lines(v: dict[str, float], system: str, budget: str = "default") -> list[str]:
    """A table: each goal of ``budget`` (default | long), the value reached by ``system``, met
    or not."""
    lines = [
        f"Toy-scale goals of the {budget} budget for {system} on the mini test set (set before "
        "the run; reported as reached, not tuned to pass):",
        "",
        "| metric | goal | reached | met |",
        "|---|---:|---:|---|",
    ]
    for label, keys, goal_default, goal_long, how in GOALS:
        goal = goal_long if budget == "long" else goal_default
        sign = "<=" if how == "max" else ">="
        xs = [v[k] for k in keys if k in v]
        if len(xs) < len(keys):
            lines.append(f"| {label} | {sign} {goal:g} | - | not run |")
            continue
        x = max(xs) if how == "max" else min(xs)
        ok = x <= goal if how == "max" else x >= goal
        lines.append(f"| {label} | {sign} {goal:g} | {x:.1f} | {'yes' if ok else 'no'} |")
    return [*lines, ""]


def _fmt(values: dict[str, dict[str, float]], key: str, systems) -> str:
    parts = [f"{s} {values[s][key]:.1f}" for s in systems if key in values.get(s, {})]
    return ", ".join(parts) if parts else "no numbers"


def _need(values, systems, keys) -> list[str]:
    """The systems among ``systems`` that lack any of ``keys``."""
    return [s for s in systems if any(k not in values.get(s, {}) for k in keys)]


def _best(values, key: str, systems, lower: bool) -> str:
    pick = min if lower else max
    return pick(systems, key=lambda s: values[s][key])


def _paragraph(title: str, paper: str, here: str, verdict: str, loss: str = "") -> str:
    return f"**{title}** Paper: {paper} Here: {here} **{verdict}**" + (f" {loss}" if loss else "")


def _loss_note(values, systems, task: str, holds: Callable[[dict[str, float]], bool]) -> str:
    """A sentence on the same finding by the held-out loss of ``task`` (lower is better):
    ``holds`` gets ``{system: loss}`` of the systems that have one."""
    key = f"loss_{task}"
    have = {s: values[s][key] for s in systems if key in values.get(s, {})}
    if len(have) < 2:
        return ""
    try:
        ok = holds(have)
    except KeyError:  # a system the comparison needs has no loss
        return ""
    listed = ", ".join(f"{s} {x:.2f}" for s, x in have.items())
    return (
        f"By held-out {task.upper()} loss (nats per target token, lower is better): {listed}; "
        f"by this measure it {'holds' if ok else 'does not hold'}."
    )


def findings_lines(values: dict[str, dict[str, float]], ran: list[str]) -> list[str]:
    """One paragraph per finding of the paper."""
    out = []
    for check in FINDINGS:
        out += [check(values, ran), ""]
    return out


def _best_on(keys: list[str], lower: bool, title: str, paper: str, task: str = "") -> Callable:
    def check(values, ran) -> str:
        systems = [s for s in (NI, TL, SP, ST) if s in ran]
        missing = _need(values, systems, keys)
        if ST not in systems or len(systems) < 2 or missing:
            need = "the other systems" if len(systems) < 2 else ", ".join(missing) or ST
            here = "; ".join(f"{k}: {_fmt(values, k, systems)}" for k in keys)
            return _paragraph(
                title, paper, here + ".", f"Not checked: needs {need} (`./run.sh --systems all`)."
            )
        wins = [_best(values, k, systems, lower) == ST for k in keys]
        here = "; ".join(f"{k}: {_fmt(values, k, systems)}" for k in keys)
        if all(wins):
            verdict = "Holds at this scale."
        elif any(wins):
            verdict = "Holds only in part (best on some of the columns)."
        else:
            verdict = "Does not hold at this scale."
        loss = _loss_note(values, systems, task, lambda h: min(h, key=h.get) == ST) if task else ""
        return _paragraph(title, paper, here + ".", verdict, loss)

    return check


def _tts_cpt(values, ran) -> str:
    title = "CPT makes speech generation work: TTS by either CPT system is far more intelligible."
    paper = "TTS WER 3.7 (Speech CPT) and 3.7 (Speech & Text CPT) vs 17.5 (No Init) and 18.8 (Text LLM Init)."
    cpt = [s for s in CPT_SYSTEMS if s in ran and "tts_wer" in values.get(s, {})]
    base = [s for s in NO_CPT if s in ran and "tts_wer" in values.get(s, {})]
    here = f"TTS WER {_fmt(values, 'tts_wer', [*base, *cpt])}; CER {_fmt(values, 'tts_cer', [*base, *cpt])}."
    if not cpt or not base:
        return _paragraph(title, paper, here, "Not checked: needs a CPT and a non-CPT system.")
    keys = [k for k in ("tts_wer", "tts_cer") if all(k in values[s] for s in [*cpt, *base])]
    if _unintelligible(values, [*cpt, *base], keys):
        verdict = (
            "Not decided by the decoded metric: no system's speech is intelligible (every TTS "
            f"WER / CER >= {UNINTELLIGIBLE:g}%)."
        )
    else:
        held = all(max(values[s][k] for s in cpt) < min(values[s][k] for s in base) for k in keys)
        verdict = "Holds at this scale." if held else "Does not hold at this scale."
    return _paragraph(title, paper, here, verdict, _cpt_vs_rest(values, ran, "tts"))


def _unintelligible(values, systems, keys=("tts_wer", "tts_cer")) -> bool:
    """Whether the judge reads none of these systems' TTS (every rate of ``keys`` they have is
    at least UNINTELLIGIBLE; False without any)."""
    rates = [values[s][k] for s in systems for k in keys if k in values.get(s, {})]
    return bool(rates) and min(rates) >= UNINTELLIGIBLE


def _unreadable(values, systems) -> str:
    """The "not decided" verdict of an S2ST finding when the judge reads none of these systems'
    TTS (their S2ST speech comes from the same speech head): "" otherwise."""
    if not _unintelligible(values, systems):
        return ""
    return (
        "Not decided by the decoded metric: the judge reads none of these systems' speech (every "
        f"TTS WER / CER >= {UNINTELLIGIBLE:g}%), so ASR-BLEU differences are noise."
    )


def _cpt_vs_rest(values, ran, task: str) -> str:
    """The loss sentence for "every CPT system beats every system without CPT"."""
    systems = [s for s in (NI, TL, SP, ST) if s in ran]

    def holds(h: dict[str, float]) -> bool:
        cpt = [h[s] for s in CPT_SYSTEMS if s in h]
        base = [h[s] for s in NO_CPT if s in h]
        if not cpt or not base:
            raise KeyError(task)
        return max(cpt) < min(base)

    return _loss_note(values, systems, task, holds)


def _s2st_converge(values, ran) -> str:
    title = "Without CPT, S2ST (a task CPT never saw) does not converge; after CPT it does."
    paper = "No Init and Text LLM Init did not converge; ASR-BLEU 28.0 (Speech CPT), 33.4 (Speech & Text CPT)."
    cpt = [s for s in CPT_SYSTEMS if s in ran and "s2st" in values.get(s, {})]
    base = [s for s in NO_CPT if s in ran and "s2st" in values.get(s, {})]
    here = f"ASR-BLEU {_fmt(values, 's2st', [*base, *cpt])}."
    if not base:
        conv = [s for s in cpt if values[s]["s2st"] >= NEAR_ZERO_BLEU]
        note = (
            f"the CPT system(s) {'converge' if conv else 'do not converge either'} (ASR-BLEU "
            f"{'>=' if conv else '<'} {NEAR_ZERO_BLEU:g})"
            if cpt
            else "no S2ST score"
        )
        return _paragraph(title, paper, here, f"Not checked without the non-CPT systems; {note}.")
    low = all(values[s]["s2st"] < NEAR_ZERO_BLEU for s in base)
    high = cpt and all(values[s]["s2st"] > max(values[b]["s2st"] for b in base) for s in cpt)
    if undecided := _unreadable(values, [*base, *cpt]):
        verdict = undecided
    elif low and high:
        verdict = f"Holds at this scale (no-CPT systems below {NEAR_ZERO_BLEU:g} ASR-BLEU)."
    elif high:
        verdict = "Holds in part: CPT systems are better, but the others do learn S2ST here."
    else:
        verdict = "Does not hold at this scale."
    return _paragraph(title, paper, here, verdict, _cpt_vs_rest(values, ran, "s2st"))


def _pair(
    key: str,
    a: str,
    b: str,
    title: str,
    paper: str,
    lower: bool,
    task: str = "",
    on_speech: bool = False,
) -> Callable:
    """A finding "a beats b on key"; ``on_speech``: key is scored on generated speech, so it
    decides nothing when the judge reads neither system's speech."""

    def check(values, ran) -> str:
        have = [s for s in (a, b) if s in ran and key in values.get(s, {})]
        here = f"{key}: {_fmt(values, key, (b, a))}."
        if len(have) < 2:
            return _paragraph(title, paper, here, f"Not checked: needs {a} and {b}.")
        better = values[a][key] < values[b][key] if lower else values[a][key] > values[b][key]
        verdict = "Holds at this scale." if better else "Does not hold at this scale."
        if on_speech:
            verdict = _unreadable(values, (a, b)) or verdict
        loss = _loss_note(values, (b, a), task, lambda h: h[a] < h[b]) if task else ""
        return _paragraph(title, paper, here, verdict, loss)

    return check


def _forgetting(values, ran) -> str:
    title = "Adding text to CPT keeps more of the text LLM (less forgetting than speech-only CPT)."
    paper = (
        "the motivation of speech+text CPT (the paper reports no perplexity); its text-based "
        "tasks (S2TT) favour Speech & Text CPT."
    )
    base = next((v["ppl_text_llm"] for v in values.values() if "ppl_text_llm" in v), None)
    have = [s for s in (SP, ST) if s in ran and "ppl_cpt" in values.get(s, {})]
    here = f"held-out perplexity after CPT: {_fmt(values, 'ppl_cpt', (SP, ST))}" + (
        f" (text LLM {base:.1f})." if base else "."
    )
    if len(have) < 2:
        return _paragraph(title, paper, here, "Not checked: needs both CPT systems.")
    ok = values[ST]["ppl_cpt"] < values[SP]["ppl_cpt"]
    return _paragraph(
        title, paper, here, "Holds at this scale." if ok else "Does not hold at this scale."
    )


def _dual(values, ran) -> str:
    """DualSpeechLM against Speech & Text CPT (issue 18's question, at the same budget)."""
    title = (
        "DualSpeechLM (USTokens in, codec tokens out) understands better than Speech & Text CPT "
        "and speaks within 10% of it."
    )
    paper_ = (
        "the DualSpeechLM paper (arXiv 2508.08961) reports that understanding-driven input "
        "tokens help understanding and, through the semantic loss, generation; its test sets "
        "and base LLM differ from the seed paper's, so only the ordering is compared."
    )
    und = ["asr_wer", "asr_cer", "s2tt_en_zh", "s2tt_zh_en"]
    gen = ["tts_wer", "tts_cer", "s2st"]
    here = "; ".join(f"{k}: {_fmt(values, k, (ST, DUAL))}" for k in und + gen) + "."
    if DUAL not in ran or ST not in values or _need(values, (ST, DUAL), und):
        return _paragraph(title, paper_, here, "Not checked: needs Speech & Text CPT and "
                          "DualSpeechLM (`./run.sh --systems dual`).")  # fmt: skip
    a, b = values[DUAL], values[ST]
    understands = (
        a["asr_wer"] <= b["asr_wer"] and a["asr_cer"] <= b["asr_cer"]
        and a["s2tt_en_zh"] >= b["s2tt_en_zh"] and a["s2tt_zh_en"] >= b["s2tt_zh_en"]
    )  # fmt: skip
    speaks = all(k in a and k in b for k in ("tts_wer", "tts_cer")) and all(
        a[k] <= 1.1 * b[k] for k in ("tts_wer", "tts_cer")
    )
    verdict = (
        f"Understanding: {'holds' if understands else 'does not hold'} at this scale; "
        f"TTS within 10%: {'holds' if speaks else 'does not hold'} at this scale."
    )
    note = (
        "The TTS and S2ST of both are scored by the same judge, the ASR fine-tuning of Speech & "
        "Text CPT (DualSpeechLM's own ASR reads USTokens, not the codec's codes)."
    )
    return _paragraph(title, paper_, here, verdict, note)


FINDINGS: list[Callable] = [
    _best_on(
        ["asr_wer", "asr_cer"],
        True,
        "Speech & Text CPT gives the best ASR.",
        "WER 3.7 / 6.3 (LibriSpeech clean / other) and CER 7.2 (Aishell2), against at best "
        "4.8 / 8.5 and 13.0 for the other systems.",
        task="asr",
    ),
    _best_on(
        ["s2tt_en_zh", "s2tt_zh_en"],
        False,
        "Speech & Text CPT gives the best S2TT in both directions.",
        "CoVoST2 BLEU 33.1 EN->ZH and 16.1 ZH->EN, against at best 28.9 and 9.9.",
        task="s2tt",
    ),
    _tts_cpt,
    _s2st_converge,
    _pair(
        "s2st",
        ST,
        SP,
        "Text in CPT helps the unseen S2ST task.",
        "ASR-BLEU 33.4 (Speech & Text CPT) vs 28.0 (Speech CPT).",
        False,
        task="s2st",
        on_speech=True,
    ),
    _pair(
        "asr_wer",
        TL,
        NI,
        "Text LLM Initialization helps understanding over No Initialization.",
        "ASR WER 4.8 vs 5.5 (test-clean), S2TT EN->ZH BLEU 28.9 vs 25.5.",
        True,
        task="asr",
    ),
    _forgetting,
    _dual,
]
