"""Ship a trained codec: copy its weights and config, and write a README with provenance and the
evaluation table (the mini recipe's embedded default lives in
``egs2/mini_bilingual/codec_lm1/pretrained/codec/``)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import yaml

from espnet_codec_lm.codec.evaluate import results_markdown
from espnet_codec_lm.codec.model import export_weights
from espnet_codec_lm.utils.fileio import atomic_path, atomic_write_text

GOALS = "STOI >= 0.85, PESQ (wb) >= 2.0 and at least half of each codebook's codes in use"


def goal_check(summary: dict, n_q: int = 3) -> list[str]:
    """Lines saying whether the mini recipe's goals at ``n_q`` codebooks are met."""
    e = summary["n_q"].get(n_q)
    if e is None:
        return [f"- {n_q} codebooks were not evaluated"]
    ok_stoi, ok_pesq = e["stoi"] >= 0.85, e["pesq_wb"] >= 2.0
    usage = [summary["usage"][q]["used_fraction"] for q in range(1, n_q + 1)]
    ok_use = all(u >= 0.5 for u in usage)
    mark = {True: "met", False: "NOT met"}
    return [
        f"- STOI {e['stoi']:.3f} (goal >= 0.85): {mark[ok_stoi]}",
        f"- PESQ wb {e['pesq_wb']:.2f} (goal >= 2.0): {mark[ok_pesq]}",
        f"- codes in use, codebooks 1-{n_q}: "
        + ", ".join(f"{u:.2f}" for u in usage)
        + f" (goal >= 0.5 each): {mark[ok_use]}",
    ]


def snapshot_codec(codec_dir: str | Path, dest: str | Path, tries: int = 5) -> Path:
    """Copy a codec dir that a running training may rewrite (``config.yaml``,
    ``model.safetensors``, ``train_state.json``) into ``dest`` consistently: the step in
    ``train_state.json`` must be the same before and after the copy, else copy again."""
    codec_dir, dest = Path(codec_dir), Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    state = codec_dir / "train_state.json"
    for _ in range(tries):
        before = state.read_bytes() if state.is_file() else b""
        for name in ("model.safetensors", "config.yaml", "train_state.json"):
            if (codec_dir / name).is_file():
                with atomic_path(dest / name) as tmp:
                    shutil.copyfile(codec_dir / name, tmp)
        if (state.read_bytes() if state.is_file() else b"") == before:
            return dest
    raise RuntimeError(f"{codec_dir}: kept changing while being copied")


def export_pretrained(
    codec_dir: str | Path,
    out_dir: str | Path,
    summary: dict,
    eval_command: str,
    data_note: str = "",
    exp_dir: str | Path | None = None,
) -> None:
    """Copy ``codec_dir`` (config.yaml, model.safetensors) to ``out_dir`` with a README.

    Provenance comes from ``exp_dir`` (default: the directory above ``codec_dir``) when it is a
    training run: ``run_info.yaml`` (commands, commits), ``config.yaml``, and from
    ``codec_dir/train_state.json`` (step).
    """
    codec_dir, out_dir = Path(codec_dir), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    export_weights(codec_dir / "model.safetensors", out_dir / "model.safetensors")
    with atomic_path(out_dir / "config.yaml") as tmp:
        shutil.copyfile(codec_dir / "config.yaml", tmp)
    exp_dir = Path(exp_dir) if exp_dir is not None else codec_dir.parent
    state_file = codec_dir / "train_state.json"
    state = json.loads(state_file.read_text()) if state_file.is_file() else {}
    runs_file = exp_dir / "run_info.yaml"
    runs = (yaml.safe_load(runs_file.read_text()) or []) if runs_file.is_file() else []
    train_cfg = exp_dir / "config.yaml"
    size_mb = (out_dir / "model.safetensors").stat().st_size / 1e6
    lines = [
        "# Pretrained codec of the mini recipe (embedded default)",
        "",
        "The speech tokenizer the `mini_bilingual` recipe uses unless told to train its own",
        "(`--codec_dir`; see doc/codec.md). Trained by the toolkit's own `codec_train` on the mini",
        f"corpus on CPU. Files: `config.yaml` (model), `model.safetensors` ({size_mb:.1f} MB,",
        "fp16 without the EMA sums that only training needs; `load_codec` restores float32).",
        "",
        "## Evaluation (mini corpus test set)",
        "",
        results_markdown(summary).rstrip(),
        "",
        f"Goals at 3 codebooks (1.5 kbps): {GOALS}.",
        "",
        *goal_check(summary),
        "",
        "## Provenance",
        "",
        f"- training steps: {state.get('step', 'unknown')} (checkpoint saved {state.get('saved', '?')})",
        f"- experiment directory: `{exp_dir}`",
    ]
    if data_note:
        lines.append(f"- data: {data_note}")
    if runs:
        lines += ["- training command(s), one per (re)start, with the git commit of the code:", ""]
        for r in runs:
            lines += [
                f"  - from step {r.get('from_step')} at {r.get('started')}, "
                f"commit `{r.get('git_commit')}`:",
                "",
                "    ```",
                f"    {r.get('command')}",
                "    ```",
                "",
            ]
    lines += ["", "Evaluation and export (re-run to refresh from the latest checkpoint):", ""]
    lines += ["```", eval_command, "```", ""]
    if train_cfg.is_file():
        lines += ["## Training config", "", "```yaml", train_cfg.read_text().rstrip(), "```", ""]
    atomic_write_text(out_dir / "README.md", "\n".join(lines))
