"""Codec training and tokenization throughput: one process vs two, in one run.

1. Training: ``bin/codec_train`` of the mini recipe's codec config (``conf/codec/debug.yaml``)
   under ``torchrun`` with 1 and then 2 gloo processes of one thread each (the code path that
   runs DDP over GPUs), the same global batch per step (``data.batch_size``: each of two ranks
   trains on half of it). The figure is steps per second over the logged steps after the first
   ``--skip`` (start-up, k-means initialisation); the goal of the paper-scale issue is a ratio
   >= 1.8x.
2. Tokenization: ``bin/codec_tokenize`` of the same audio one utterance at a time, one process
   (the old path), against batches of 16 (``--batch_size``) and against ``--nj 2`` processes;
   seconds of audio per second of wall time, start-up included. Codes must be identical.

Synthetic speech-like audio, written to a temporary directory; no recipe outputs needed. Run it
on an idle machine with at least two cores.

Usage:
    tools/venv/bin/python bench/codec_scaling.py
    tools/venv/bin/python bench/codec_scaling.py --steps 30 --utts 64 --seconds 3
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "egs2/TEMPLATE/codec_lm1/conf/codec/debug.yaml"


def _env() -> dict[str, str]:
    return dict(
        os.environ, OMP_NUM_THREADS="1", ESPNET_CODEC_LM_NO_PROGRESS="1", PYTHONPATH=str(REPO)
    )


def train_rate(nproc: int, data: Path, exp: Path, steps: int, batch: int, skip: int) -> float:
    """Steps per second of the logged steps after ``skip``, from the trainer's own log."""
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    cmd += ["--nproc_per_node", str(nproc), "-m", "espnet_codec_lm.bin.codec_train"]
    cmd += ["--config", str(CONFIG), "--exp_dir", str(exp), f"data.train={data}"]
    cmd += [f"data.valid={data}", f"data.batch_size={batch}", "data.aug_prob=0.0"]
    cmd += [f"max_steps={steps}", "log_every=1", "valid_every=1000000", "device=cpu"]
    cmd += ["num_threads=1", "ckpt_every_s=1000000000"]
    res = subprocess.run(cmd, env=_env(), capture_output=True, text=True, cwd=REPO)
    if res.returncode:
        sys.exit(f"codec_train with {nproc} process(es) failed:\n{res.stderr[-3000:]}")
    rows = [json.loads(line) for line in (exp / "train_log.jsonl").read_text().splitlines()]
    t = {r["step"]: r["time"] for r in rows if "time" in r}
    if len(t) < skip + 2:
        sys.exit(f"{exp / 'train_log.jsonl'}: no wall times logged per step ({sorted(rows[0])})")
    first, last = skip, max(t)
    return (last - first) / (t[last] - t[first])


def tokenize(model: Path, data: Path, out: Path, *args: str) -> float:
    """Wall seconds of one ``codec_tokenize`` run (start-up included)."""
    cmd = [sys.executable, "-m", "espnet_codec_lm.bin.codec_tokenize", "--codec_dir", str(model)]
    cmd += ["--data", str(data), "--out_dir", str(out), "--device", "cpu", *args]
    t0 = time.perf_counter()
    res = subprocess.run(cmd, env=_env(), capture_output=True, text=True, cwd=REPO)
    if res.returncode:
        sys.exit(f"codec_tokenize {' '.join(args)} failed:\n{res.stderr[-3000:]}")
    return time.perf_counter() - t0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=24, help="training steps per run")
    p.add_argument("--skip", type=int, default=4, help="first logged steps left out of the rate")
    p.add_argument("--batch", type=int, default=8, help="global batch (segments per step)")
    p.add_argument("--utts", type=int, default=48, help="utterances of synthetic audio")
    p.add_argument("--seconds", type=float, default=3.0, help="seconds per utterance")
    args = p.parse_args()
    sys.path.insert(0, str(REPO))
    import kaldiio
    import numpy as np

    from espnet_codec_lm.testing.audio import make_data_dir

    with tempfile.TemporaryDirectory(prefix="codec_scaling_") as tmp:
        tmp = Path(tmp)
        data = make_data_dir(tmp / "audio", n_utts=args.utts, n_speakers=4, seconds=args.seconds)
        rates = {}
        for n in (1, 2):
            rates[n] = train_rate(n, data, tmp / f"exp{n}", args.steps, args.batch, args.skip)
        model = tmp / "exp1" / "codec"
        audio_s = args.utts * args.seconds
        runs = {
            "one at a time, 1 process": ("--batch_size", "1", "--nj", "1"),
            "batches of 16, 1 process": ("--batch_size", "16", "--nj", "1"),
            "one at a time, --nj 2": ("--batch_size", "1", "--nj", "2"),
            "batches of 16, --nj 2": ("--batch_size", "16", "--nj", "2"),
        }
        walls, codes = {}, {}
        for i, (name, flags) in enumerate(runs.items()):
            out = tmp / f"codes{i}"
            walls[name] = tokenize(model, data, out, *flags)
            codes[name] = {
                k: np.asarray(v) for k, v in kaldiio.load_scp(str(out / "codes.scp")).items()
            }
        base = next(iter(codes.values()))
        same = all(
            sorted(c) == sorted(base) and all(np.array_equal(c[k], base[k]) for k in base)
            for c in codes.values()
        )

    print(
        f"codec training ({CONFIG.name}, global batch {args.batch}, 1 thread per process, "
        f"steps {args.skip + 1}-{args.steps}):"
    )
    print(f"  1 process  {rates[1]:.2f} steps/s")
    print(f"  2 processes {rates[2]:.2f} steps/s -> {rates[2] / rates[1]:.2f}x (goal >= 1.8x)")
    print(f"tokenization of {args.utts} utterances, {audio_s:.0f} s of audio (start-up included):")
    ref = walls["one at a time, 1 process"]
    for name, wall in walls.items():
        print(f"  {name:26s} {audio_s / wall:6.1f} s of audio per s  {ref / wall:4.2f}x")
    print(f"  codes identical across the four runs: {same}")
    if not same:
        sys.exit("codes differ between tokenization runs")


if __name__ == "__main__":
    main()
