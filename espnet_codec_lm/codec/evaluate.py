"""Resynthesis quality of a codec on a test set, per number of codebooks, plus codebook usage.

Each utterance is encoded once with the most codebooks asked for; the prefixes of its codes
(1, 2, 3, 4, 8 codebooks) are decoded and scored against the original. Outputs in ``out_dir``::

    results.yaml        means per number of codebooks + codebook usage on the test set
    results.md          the same as Markdown tables
    per_utt.tsv         every utterance x codebooks x metric
    spec_<utt>.png      spectrograms: original and resynthesis with 1 / 3 / all codebooks
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np
import torch
import yaml

from espnet_codec_lm.codec.metrics import log_mel, mel_distance, pesq_score, si_snr, stoi_score
from espnet_codec_lm.codec.model import SoundStreamCodec
from espnet_codec_lm.codec.trainer import codebook_usage
from espnet_codec_lm.utils.fileio import atomic_path, atomic_write_text, id_path
from espnet_codec_lm.utils.progress import progress

log = logging.getLogger("codec_eval")
METRICS = ("mel_distance", "si_snr", "pesq_wb", "pesq_nb", "stoi")


def evaluate(
    codec: SoundStreamCodec,
    utts: list[tuple[str, np.ndarray]],
    n_q_list: list[int],
    out_dir: str | Path,
    num_plots: int = 3,
    with_pesq: bool = True,
) -> dict:
    """Score ``codec`` on ``(utt_id, audio)`` pairs; write the files listed above; return the
    summary (``{"n_q": {n: {metric: mean}}, "usage": {...}, "num_utts": N, "num_scored": K,
    "dropped": {utt: why}}``): every mean is over the same K utterances."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    sr = codec.sample_rate
    n_q_list = sorted({n for n in n_q_list if 1 <= n <= codec.num_codebooks})
    if not n_q_list:
        raise ValueError(f"no valid number of codebooks (the codec has {codec.num_codebooks})")
    max_q = max(n_q_list)
    rows = []
    hist = np.zeros((max_q, codec.codebook_size), np.int64)
    for i, (utt, wav) in enumerate(progress(utts, desc="codec_eval")):
        codes = codec.encode(torch.from_numpy(wav), max_q)  # [max_q, T]
        for q in range(max_q):
            hist[q] += np.bincount(codes[q].numpy(), minlength=codec.codebook_size)
        hyps = {}
        for n in n_q_list:
            hyp = codec.decode(codes[:n]).numpy()[: len(wav)]
            hyps[n] = hyp
            row = {"utt": utt, "n_q": n}
            row["mel_distance"] = mel_distance(wav, hyp, sr)
            row["si_snr"] = si_snr(wav, hyp)
            row["pesq_wb"] = pesq_score(wav, hyp, sr) if with_pesq else math.nan
            row["pesq_nb"] = pesq_score(wav, hyp, sr, "nb") if with_pesq else math.nan
            row["stoi"] = stoi_score(wav, hyp, sr)
            rows.append(row)
        if i < num_plots:
            plot_spectrograms(wav, hyps, sr, id_path(out_dir, utt, ".png", prefix="spec_"), utt)
    # every mean is over one set of utterances: one whose metric could not be computed at some
    # number of codebooks (PESQ finds no speech in it, ...) is left out of all of them, named
    computed = [m for m in METRICS if with_pesq or not m.startswith("pesq")]
    dropped: dict[str, str] = {}
    for r in rows:
        bad = [m for m in computed if not math.isfinite(r[m])]
        if bad and r["utt"] not in dropped:
            dropped[r["utt"]] = f"{bad[0]} not computable with {r['n_q']} codebook(s)"
    for utt, why in dropped.items():
        log.warning("utterance '%s': %s; left out of every mean", utt, why)
    kept = [r for r in rows if r["utt"] not in dropped]
    if not kept:
        raise ValueError(f"no utterance could be scored ({len(dropped)} left out: see the log)")
    summary: dict = {
        "num_utts": len(utts),
        "num_scored": len(utts) - len(dropped),
        "dropped": dropped,
        "n_q": {},
        "usage": {},
    }
    frame_rate = codec.frame_rate
    bits = math.log2(codec.codebook_size)
    for n in n_q_list:
        sel = [r for r in kept if r["n_q"] == n]
        entry = {"kbps": round(n * frame_rate * bits / 1000, 3)}
        for m in METRICS:
            vals = np.array([r[m] for r in sel], dtype=np.float64)
            entry[m] = float(np.mean(vals)) if m in computed else math.nan
        summary["n_q"][n] = entry
    for q in range(max_q):
        ppl, used = codebook_usage(hist[q])
        summary["usage"][q + 1] = {"used_fraction": used, "perplexity": ppl}
    atomic_write_text(out_dir / "results.yaml", yaml.safe_dump(summary, sort_keys=False))
    atomic_write_text(out_dir / "results.md", results_markdown(summary))
    lines = ["utt\tn_q\t" + "\t".join(METRICS)]
    lines += [f"{r['utt']}\t{r['n_q']}\t" + "\t".join(f"{r[m]:.4f}" for m in METRICS) for r in rows]
    atomic_write_text(out_dir / "per_utt.tsv", "\n".join(lines) + "\n")
    return summary


def results_markdown(summary: dict) -> str:
    """Markdown tables of an :func:`evaluate` summary."""
    dropped = summary.get("dropped") or {}
    scored = (
        ""
        if not dropped
        else (
            f" ({summary['num_scored']} scored; left out of every mean: "
            + ", ".join(f"{u} ({why})" for u, why in dropped.items())
            + ")"
        )
    )
    out = [
        f"Test utterances: {summary['num_utts']}{scored}",
        "",
        "| codebooks | kbps | mel distance | SI-SNR (dB) | PESQ (wb) | PESQ (nb) | STOI |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for n, e in summary["n_q"].items():
        out.append(
            f"| {n} | {e['kbps']:g} | {e['mel_distance']:.3f} | {e['si_snr']:.2f} | "
            f"{e['pesq_wb']:.2f} | {e['pesq_nb']:.2f} | {e['stoi']:.3f} |"
        )
    out += [
        "",
        "Codebook usage on the test set (fraction of the codes used, perplexity):",
        "",
        "| codebook | used | perplexity |",
        "| ---: | ---: | ---: |",
    ]
    for q, u in summary["usage"].items():
        out.append(f"| {q} | {u['used_fraction']:.3f} | {u['perplexity']:.1f} |")
    return "\n".join(out) + "\n"


def plot_spectrograms(
    wav: np.ndarray, hyps: dict[int, np.ndarray], sr: int, path: Path, title: str
) -> None:
    """Log-mel spectrograms of the original and of the resynthesis with 1 / 3 / all codebooks."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = sorted(hyps)
    show = [k for k in keys if k in (1, 3)] + ([keys[-1]] if keys[-1] not in (1, 3) else [])
    panels = [("original", wav)] + [(f"{k} codebook(s)", hyps[k]) for k in show]
    fig, axes = plt.subplots(len(panels), 1, figsize=(8, 1.9 * len(panels)), sharex=True)
    for ax, (name, w) in zip(np.atleast_1d(axes), panels):
        ax.imshow(log_mel(w, sr), origin="lower", aspect="auto", vmin=-5, vmax=1, cmap="magma")
        ax.set_ylabel(name, fontsize=8)
        ax.set_yticks([])
    np.atleast_1d(axes)[0].set_title(title, fontsize=9)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=80, format="png")
    plt.close(fig)
