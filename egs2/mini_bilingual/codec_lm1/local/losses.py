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


def sft_runs(exp: Path, stage: str = "sft") -> dict[str, Path]:
    """``{system name: run dir}`` of the SFT (or CPT) runs under ``exp`` (their
    ``system.yaml``); a system fine-tuned twice keeps its most recent run."""
    import yaml

    runs: dict[str, tuple[float, Path]] = {}
    for meta in exp.glob("*/system.yaml"):
        d = yaml.safe_load(meta.read_text(encoding="utf-8")) or {}
        if d.get("stage") == stage and d.get("system"):
            t = meta.stat().st_mtime
            if d["system"] not in runs or t > runs[d["system"]][0]:
                runs[d["system"]] = (t, meta.parent)
    return {name: run for name, (_, run) in runs.items()}


def loss_lines(exp: Path, systems: list[str]) -> list[str]:
    """Markdown: one row per system (by name) whose SFT run has a validation entry."""
    runs = sft_runs(exp)
    rows = []
    for name in systems:
        v = last_valid(runs[name]) if name in runs else None
        if v is None:
            continue
        cells = [f"{v[k]:.3f}" if k in v else "-" for k, _ in TASKS]
        rows.append(f"| {name} | {v['step']} | " + " | ".join(cells) + " |")
    if not rows:
        return ["No fine-tuned model with a validation entry under the experiment directory."]
    return [
        "Validation loss of each task at the end of the joint SFT (dev set, nats per target "
        "token: text tokens for ASR / S2TT, codec codes of all heads for TTS / S2ST; lower is "
        "better). It orders the systems even where their decoded outputs are all unusable.",
        "",
        "| system | step | " + " | ".join(t for _, t in TASKS) + " |",
        "|---|---:|" + "---:|" * len(TASKS),
        *rows,
    ]


def curve_lines(exp: Path, system: str, png_dir: Path, results_dir: Path) -> list[str]:
    """Markdown linking the learning curve (dev scores of the decode monitor against minutes of
    CPT then SFT) of ``system``, drawn into ``png_dir``; a note when there is none."""
    import os

    from espnet_codec_lm.train.logger import learning_curve, plot_learning_curve

    runs = [r for r in (sft_runs(exp, "cpt").get(system), sft_runs(exp).get(system)) if r]
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
