"""Training records: JSON-lines logs, TensorBoard scalars and the loss-curve PNG (rank 0 only).

``train_log.jsonl`` has one row per optimiser step (``step``, ``loss``, ``lr``, ``grad_norm``,
``positions_per_s``, ``data_share``, ``loss/head<k>``, ``loss/task/<name>``) and
``valid_log.jsonl`` one row per validation (``step``, ``loss``, ``loss/task/<name>``,
``text_ppl``). On resume, rows after the resumed step (written before a crash) are dropped and
TensorBoard purges its events past that step, so the records read as one uninterrupted run.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from espnet_codec_lm.utils.fileio import atomic_path, atomic_write_text

TRAIN_LOG = "train_log.jsonl"
VALID_LOG = "valid_log.jsonl"
CURVE_PNG = "loss_curve.png"


def read_log(path: str | Path) -> list[dict]:
    """Rows of a ``*.jsonl`` log (a torn last line from a crash is skipped)."""
    path = Path(path)
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return rows


def _truncate(path: Path, last_step: int) -> None:
    rows = [r for r in read_log(path) if r.get("step", 0) <= last_step]
    atomic_write_text(path, "".join(json.dumps(r) + "\n" for r in rows))


class TrainLogger:
    """Writes the records above; a no-op object on ranks other than 0."""

    def __init__(self, exp_dir: str | Path, enabled: bool, tensorboard: bool, start_step: int):
        self.exp_dir = Path(exp_dir)
        self.enabled = enabled
        self.tb = None
        if not enabled:
            return
        for name in (TRAIN_LOG, VALID_LOG):
            _truncate(self.exp_dir / name, start_step)
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self.tb = SummaryWriter(str(self.exp_dir / "tensorboard"), purge_step=start_step + 1)

    def _append(self, name: str, row: dict) -> None:
        with open(self.exp_dir / name, "a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")

    def _scalars(self, prefix: str, row: dict) -> None:
        if self.tb is None:
            return
        for k, v in row.items():
            if k != "step" and isinstance(v, (int, float)) and math.isfinite(v):
                self.tb.add_scalar(f"{prefix}/{k}", v, row["step"])

    def train(self, row: dict) -> None:
        if self.enabled:
            self._append(TRAIN_LOG, row)
            self._scalars("train", row)

    def valid(self, row: dict) -> None:
        if self.enabled:
            self._append(VALID_LOG, row)
            self._scalars("valid", row)
            if self.tb is not None:
                self.tb.flush()

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()
            self.tb = None


def plot_loss_curve(exp_dir: str | Path) -> Path | None:
    """``loss_curve.png``: training loss per step (and per head), validation loss per task."""
    exp_dir = Path(exp_dir)
    train = read_log(exp_dir / TRAIN_LOG)
    valid = read_log(exp_dir / VALID_LOG)
    if not train:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    steps = [r["step"] for r in train]
    ax = axes[0]
    ax.plot(steps, [r["loss"] for r in train], label="all heads", lw=1.5)
    heads = sorted(k for k in train[-1] if k.startswith("loss/head"))
    for k in heads:
        ax.plot(steps, [r.get(k, math.nan) for r in train], label=k[5:], lw=0.8, alpha=0.7)
    ax.set(xlabel="step", ylabel="loss (nats / target)", title="training loss")
    ax.legend(fontsize=8)
    ax = axes[1]
    if valid:
        vsteps = [r["step"] for r in valid]
        ax.plot(vsteps, [r.get("loss", math.nan) for r in valid], "o-", label="all tasks")
        tasks = sorted({k for r in valid for k in r if k.startswith("loss/task/")})
        for k in tasks:
            ax.plot(vsteps, [r.get(k, math.nan) for r in valid], ".--", label=k[10:], lw=0.8)
        ax.legend(fontsize=8)
    ax.set(xlabel="step", ylabel="loss", title="validation loss per task")
    fig.tight_layout()
    out = exp_dir / CURVE_PNG

    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=100)
    plt.close(fig)
    return out


#: decode-monitor metrics drawn by :func:`plot_learning_curve` (train/decode_monitor.py)
CURVE_METRICS = (
    ("dev_asr_wer_en", "ASR WER, EN (%)"),
    ("dev_asr_cer_zh", "ASR CER, ZH (%)"),
    ("dev_s2tt_bleu_zh", "S2TT BLEU, EN->ZH"),
    ("dev_s2tt_bleu_en", "S2TT BLEU, ZH->EN"),
)


def learning_curve(exp_dirs: list[str | Path]) -> list[dict]:
    """The decoded-dev rows of consecutive runs (e.g. CPT then SFT) on one time axis: each row
    with ``minutes`` = its run's ``elapsed_s`` plus the training time of the runs before it."""
    rows, offset = [], 0.0
    for d in exp_dirs:
        valid = [r for r in read_log(Path(d) / VALID_LOG) if "elapsed_s" in r]
        for r in valid:
            if any(k in r for k, _ in CURVE_METRICS):
                minutes = (offset + r["elapsed_s"]) / 60
                rows.append({**r, "run": Path(d).name, "minutes": minutes, "start": offset / 60})
        if valid:
            offset += max(r["elapsed_s"] for r in valid)
    return rows


def plot_learning_curve(exp_dirs: list[str | Path], out: str | Path, title: str = "") -> Path:
    """A PNG of dev WER / CER (left) and BLEU (right) against minutes of training, one marker
    per decoded validation, a dotted line where each run starts."""
    rows = learning_curve(exp_dirs)
    if not rows:
        raise ValueError(
            f"{', '.join(map(str, exp_dirs))}: no decoded dev scores (eval.decode_every_steps)"
        )
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, keys in ((axes[0], CURVE_METRICS[:2]), (axes[1], CURVE_METRICS[2:])):
        for key, label in keys:
            pts = [(r["minutes"], r[key]) for r in rows if key in r]
            if pts:
                ax.plot(*zip(*pts), "o-", label=label)
        starts = {r["run"]: r["start"] for r in rows}
        for run, m in starts.items():
            ax.axvline(m, ls=":", c="gray", lw=0.8)
            ax.annotate(run, (m, 1.0), xycoords=("data", "axes fraction"), fontsize=7, va="top")
        ax.set(xlabel="minutes of training (2 CPU cores)")
        ax.legend(fontsize=8)
    axes[0].set(ylabel="error rate (%)", title=f"dev ASR {title}".strip())
    axes[1].set(ylabel="BLEU", title=f"dev S2TT {title}".strip())
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)

    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)
    return out
