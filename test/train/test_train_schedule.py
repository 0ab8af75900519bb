"""The LR schedule: linear warm-up to the peak, then cosine/linear decay to the minimum."""

from __future__ import annotations

import math

import pytest
import torch

from espnet_codec_lm.train.config import OptimConfig
from espnet_codec_lm.train.schedule import (
    build_scheduler,
    load_scheduler_state,
    lr_at,
    scheduler_state,
)


def test_paper_shape_warmup_then_cosine_to_min():
    cfg = OptimConfig(lr=1e-5, min_lr=1e-6, warmup_steps=100, decay="cosine")
    total = 1100
    assert lr_at(0, cfg, total) == pytest.approx(1e-7)  # 1/100 of the peak
    assert lr_at(49, cfg, total) == pytest.approx(5e-6)
    assert lr_at(99, cfg, total) == pytest.approx(1e-5)  # peak reached at the end of warm-up
    assert lr_at(100, cfg, total) == pytest.approx(1e-5)
    assert lr_at(600, cfg, total) == pytest.approx(5.5e-6)  # half-way: mean of peak and min
    assert lr_at(1100, cfg, total) == pytest.approx(1e-6)
    assert lr_at(5000, cfg, total) == pytest.approx(1e-6)  # stays at the minimum


def test_linear_and_constant():
    lin = OptimConfig(lr=1.0, min_lr=0.0, warmup_steps=0, decay="linear")
    assert [lr_at(s, lin, 4) for s in range(5)] == pytest.approx([1.0, 0.75, 0.5, 0.25, 0.0])
    const = OptimConfig(lr=2.0, min_lr=0.1, warmup_steps=2, decay="constant")
    assert [lr_at(s, const, 10) for s in (0, 1, 2, 9)] == pytest.approx([1.0, 2.0, 2.0, 2.0])


def test_scheduler_drives_the_optimizer_and_its_state_round_trips():
    cfg = OptimConfig(lr=0.1, min_lr=0.01, warmup_steps=3)
    p = torch.nn.Parameter(torch.zeros(2))
    opt = torch.optim.AdamW([p], lr=cfg.lr)
    sched = build_scheduler(opt, cfg, total_steps=10)
    seen = []
    for _ in range(6):
        seen.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert seen == pytest.approx([lr_at(s, cfg, 10) for s in range(6)])
    state = scheduler_state(sched)
    assert state["last_epoch"] == 6 and "lr_lambdas" not in state

    opt2 = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(2))], lr=cfg.lr)
    sched2 = build_scheduler(opt2, cfg, total_steps=10)
    load_scheduler_state(sched2, state)
    sched2.step()
    sched.step()
    assert opt2.param_groups[0]["lr"] == opt.param_groups[0]["lr"]
    assert math.isclose(opt.param_groups[0]["lr"], lr_at(7, cfg, 10))
