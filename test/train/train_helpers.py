"""Helpers of the trainer tests (a uniquely named module: pytest puts every test folder on
sys.path, so a plain ``helpers.py`` could collide with another area's)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]


def tiny_config(directory: Path, base: Path, heldout: Path | None = None, **sections) -> Path:
    """Write a tiny CPT config (text_llm init from ``base``, synthetic data) and return its path.
    ``sections`` replace/extend top-level sections, e.g. ``stop={"max_steps": 4}``."""
    cfg = {
        "system": "Speech & Text CPT",
        "stage": "cpt",
        "seed": 0,
        "model": {"init": "text_llm", "base_llm": str(base), "codebook_size": 16},
        "data": {"kind": "synthetic", "epoch_size": 32, "max_example": 24, "valid_batches": 2},
        "optim": {"lr": 3e-3, "min_lr": 3e-4, "warmup_steps": 2, "weight_decay": 0.01},
        "batch": {"global_sequences": 4, "micro_batch": 2, "max_len": 48},
        "stop": {"max_steps": 6},
        "checkpoint": {"every_steps": 3, "keep_last": 2},
        "eval": {"every_steps": 3, "text_ppl_file": str(heldout) if heldout else None},
        "log": {"every_steps": 1, "tensorboard": True},
    }
    for k, v in sections.items():
        cfg[k] = {**cfg[k], **v} if isinstance(v, dict) and isinstance(cfg.get(k), dict) else v
    path = Path(directory) / "train.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return path


def subprocess_env() -> dict:
    """One thread per process (two processes share 2 cores) and no progress bars."""
    env = dict(os.environ)
    env.update(OMP_NUM_THREADS="1", ESPNET_CODEC_LM_NO_PROGRESS="1", PYTHONPATH=str(REPO))
    return env


def lm_train_cmd(config: Path, exp_dir: Path, *overrides: str, nproc: int = 1) -> list[str]:
    """``python -m espnet_codec_lm.bin.lm_train`` or the same under torchrun."""
    args = [
        "-m",
        "espnet_codec_lm.bin.lm_train",
        "--config",
        str(config),
        "--exp_dir",
        str(exp_dir),
    ]
    if nproc == 1:
        return [sys.executable, *args, *overrides]
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
    return [*torchrun, f"--nproc_per_node={nproc}", *args, *overrides]


def run_lm_train(config: Path, exp_dir: Path, *overrides: str, nproc: int = 1, timeout=240):
    res = subprocess.run(
        lm_train_cmd(config, exp_dir, *overrides, nproc=nproc),
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    return res


def train_in_process(config: Path, exp_dir: Path, *overrides: str, threads: int = 1) -> dict:
    """The same run as ``lm_train`` in this process (one thread, like the subprocesses, so that
    the arithmetic and hence the losses are bit-identical)."""
    import torch

    from espnet_codec_lm.config import load_config
    from espnet_codec_lm.train.build import build_trainer, link_final_model
    from espnet_codec_lm.train.config import LMTrainConfig
    from espnet_codec_lm.train.distributed import init_distributed, shutdown

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        cfg = load_config(LMTrainConfig, config, list(overrides))
        env = init_distributed(cfg.dist)
        try:
            trainer = build_trainer(cfg, exp_dir, env)
            result = trainer.fit()
            link_final_model(exp_dir, trainer.ckpt.latest())
        finally:
            shutdown(env)
    finally:
        torch.set_num_threads(before)
    return result
