"""Held-out loss per task of every system's fine-tuned model (a part of local/results.py).

At toy scale the decoded outputs of every system can be equally unusable (a WER above 100% says
little about which system is closer), while the validation loss of each task still orders the
systems: it is the trainer's own measurement on the dev set, in nats per target token, read
from the ``valid_log.jsonl`` of each system's SFT run (``system.yaml`` names the system; its last
entry = the final model). Lower is better.
"""

from __future__ import annotations

import json
from pathlib import Path

TASKS = [  # (key in valid_log.jsonl, column title)
    ("loss/task/asr", "ASR"),
    ("loss/task/tts", "TTS"),
    ("loss/task/s2tt", "S2TT"),
    ("loss/task/s2st", "S2ST"),
]


def last_valid(run_dir: Path) -> dict | None:
    """The last validation entry of a training run (None if it has none)."""
    log = run_dir / "valid_log.jsonl"
    if not log.is_file():
        return None
    entries = [json.loads(x) for x in log.read_text().splitlines() if x.strip()]
    entries = [e for e in entries if "loss" in e]
    return entries[-1] if entries else None


def run_tasks(run_dir: Path) -> list[str]:
    """The tasks a training run trained on (its resolved ``config.yaml``'s ``data.tasks``)."""
    import yaml

    cfg = run_dir / "config.yaml"
    if not cfg.is_file():
        return []
    d = yaml.safe_load(cfg.read_text(encoding="utf-8")) or {}
    return list((d.get("data") or {}).get("tasks") or [])


def sft_runs(exp: Path, stage: str = "sft") -> dict[str, list[Path]]:
    """``{system name: its run dirs}`` of the SFT (or CPT) runs under ``exp`` (their
    ``system.yaml``): for each task the most recent run that trained it, so a system fine-tuned
    in groups (ASR + S2TT, TTS + S2ST) has two runs and one fine-tuned twice keeps the newer.
    The run that trained ASR comes first (its decode monitor continues the learning curve)."""
    import yaml

    newest: dict[str, dict[str, tuple[float, Path]]] = {}
    for meta in exp.glob("*/system.yaml"):
        d = yaml.safe_load(meta.read_text(encoding="utf-8")) or {}
        if d.get("stage") != stage or not d.get("system"):
            continue
        t = meta.stat().st_mtime
        per_task = newest.setdefault(d["system"], {})
        for task in run_tasks(meta.parent) or ["*"]:
            if task not in per_task or t > per_task[task][0]:
                per_task[task] = (t, meta.parent)
    out = {}
    for name, per_task in newest.items():
        runs = sorted(set(per_task.values()))
        runs.sort(key=lambda tr: "asr" not in run_tasks(tr[1]))
        out[name] = [run for _, run in runs]
    return out


def merged_valid(runs: list[Path]) -> dict | None:
    """The last validation entry of each run, merged: each task's loss from the run that trained
    it, ``step`` = the runs' last steps joined by '+' (None if no run has an entry)."""
    out, steps = {}, []
    for run in runs:
        v = last_valid(run)
        if v is None:
            continue
        steps.append(str(v["step"]))
        tasks = run_tasks(run)
        for key, _ in TASKS:
            if key in v and (not tasks or key.rsplit("/", 1)[-1] in tasks):
                out[key] = v[key]
    if not steps:
        return None
    return {**out, "step": "+".join(steps)}


def sft_plan(exp: Path, system: str) -> str:
    """How ``system`` was fine-tuned, in words (one joint run, or which tasks went together)."""
    runs = sft_runs(exp).get(system) or []
    groups = [run_tasks(r) for r in runs]
    if len(groups) == 1:
        tasks = ", ".join(t.upper() for t in groups[0])
        return (
            f"**one joint multi-task SFT per system** ({tasks} together, `--sft joint`) instead "
            "of the paper's one fine-tuning per task; every task is decoded and scored from that "
            "one model."
        )
    named = " and ".join(" + ".join(t.upper() for t in g) for g in groups)
    return (
        f"**{len(groups)} fine-tunings per system from the same CPT model**: {named} "
        "(`--sft groups`; the paper fine-tunes once per task); each task is decoded and scored "
        "from the run that trained it."
    )


def loss_lines(exp: Path, systems: list[str]) -> list[str]:
    """Markdown: one row per system (by name) whose SFT runs have a validation entry."""
    runs = sft_runs(exp)
    rows = []
    for name in systems:
        v = merged_valid(runs[name]) if name in runs else None
        if v is None:
            continue
        cells = [f"{v[k]:.3f}" if k in v else "-" for k, _ in TASKS]
        rows.append(f"| {name} | {v['step']} | " + " | ".join(cells) + " |")
    if not rows:
        return ["No fine-tuned model with a validation entry under the experiment directory."]
    return [
        "Validation loss of each task at the end of fine-tuning (dev set, nats per target "
        "token: text tokens for ASR / S2TT, codec codes of all heads for TTS / S2ST; lower is "
        "better; each task from the run that trained it, steps of each run). It orders the "
        "systems even where their decoded outputs are all unusable.",
        "",
        "| system | steps | " + " | ".join(t for _, t in TASKS) + " |",
        "|---|---:|" + "---:|" * len(TASKS),
        *rows,
        *(
            [
                "",
                "DualSpeechLM's TTS / S2ST column is its LLM's loss on the target's USTokens (the "
                "semantic loss, 1,024 classes at 25 Hz), not on codec codes: it is not comparable "
                "with the other rows; its acoustic decoder's loss is in its training log "
                "(`loss/head1`..).",
            ]
            if "DualSpeechLM" in systems
            else []
        ),
    ]


def curve_lines(exp: Path, system: str, png_dir: Path, results_dir: Path) -> list[str]:
    """Markdown linking the learning curve (dev scores of the decode monitor against minutes of
    CPT then SFT) of ``system``, drawn into ``png_dir``; a note when there is none."""
    import os

    from espnet_codec_lm.train.logger import learning_curve, plot_learning_curve

    runs = [*sft_runs(exp, "cpt").get(system, []), *sft_runs(exp).get(system, [])]
    rows = learning_curve(runs)
    if not rows:
        return ["No decoded dev scores (the training configs' eval.decode_every_steps is off)."]
    png = plot_learning_curve(runs, png_dir / "learning_curve.png", f"({system})")
    last = rows[-1]
    shown = ", ".join(
        f"{k} {last[k]:.1f}" for k in ("dev_asr_wer_en", "dev_asr_cer_zh") if k in last
    )
    return [
        f"Greedy decoding of 10 + 10 dev utterances during training ({', '.join(r.name for r in runs)}"
        f"; last: {shown} after {last['minutes']:.1f} min):",
        "",
        f"![learning curve]({os.path.relpath(png, results_dir)})",
    ]
