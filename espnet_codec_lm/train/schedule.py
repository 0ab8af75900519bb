"""Learning-rate schedule: linear warm-up to the peak, then decay to the minimum.

The paper gives only the peak (1e-5) and the minimum (1e-6) of its Megatron-LM run; Megatron's
usual shape is linear warm-up then cosine decay, which is our default (``linear`` and
``constant`` are the alternatives). The schedule is a pure function of the step, wrapped in
``torch.optim.lr_scheduler.LambdaLR`` so that its state (the step) is saved and restored with
the usual ``state_dict`` API; after ``total_steps`` the LR stays at the minimum.
"""

from __future__ import annotations

import math

import torch

from espnet_codec_lm.train.config import OptimConfig


def lr_at(step: int, cfg: OptimConfig, total_steps: int) -> float:
    """The learning rate used for optimiser step ``step`` (0-based)."""
    peak, low = cfg.lr, min(cfg.min_lr, cfg.lr)
    warm = max(0, min(cfg.warmup_steps, total_steps))
    if step < warm:
        return peak * (step + 1) / warm
    if cfg.decay == "constant":
        return peak
    span = max(1, total_steps - warm)
    frac = min(1.0, (step - warm) / span)
    if cfg.decay == "linear":
        return peak + (low - peak) * frac
    return low + 0.5 * (peak - low) * (1.0 + math.cos(math.pi * frac))


class _Factor:
    """LR multiplier for LambdaLR (a class, not a lambda, so it is picklable for debugging)."""

    def __init__(self, cfg: OptimConfig, total_steps: int) -> None:
        self.cfg, self.total = cfg, total_steps

    def __call__(self, step: int) -> float:
        return lr_at(step, self.cfg, self.total) / self.cfg.lr


def build_scheduler(
    optimizer: torch.optim.Optimizer, cfg: OptimConfig, total_steps: int
) -> torch.optim.lr_scheduler.LambdaLR:
    """Scheduler whose ``step()`` is called once per optimiser step."""
    if cfg.lr <= 0:
        raise ValueError(f"optim.lr must be > 0, got {cfg.lr}")
    return torch.optim.lr_scheduler.LambdaLR(optimizer, _Factor(cfg, total_steps))


def scheduler_state(sched: torch.optim.lr_scheduler.LRScheduler) -> dict:
    """The scheduler's state as JSON-able data (the multiplier object itself is rebuilt)."""
    return {k: v for k, v in sched.state_dict().items() if k != "lr_lambdas"}


def load_scheduler_state(sched: torch.optim.lr_scheduler.LRScheduler, state: dict) -> None:
    full = sched.state_dict()
    full.update(state)
    sched.load_state_dict(full)
