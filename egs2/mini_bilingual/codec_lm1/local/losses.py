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


def sft_runs(exp: Path) -> dict[str, Path]:
    """``{system name: run dir}`` of the SFT runs under ``exp`` (their ``system.yaml``); a system
    fine-tuned twice keeps its most recent run."""
    import yaml

    runs: dict[str, tuple[float, Path]] = {}
    for meta in exp.glob("*/system.yaml"):
        d = yaml.safe_load(meta.read_text(encoding="utf-8")) or {}
        if d.get("stage") == "sft" and d.get("system"):
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
