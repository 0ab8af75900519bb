"""Checkpoints: exact round trip, keep-last-N, atomicity under a crash, no unpickling."""

from __future__ import annotations

import json
import pickle

import pytest
import torch

from espnet_codec_lm.train.checkpoint import (
    CheckpointError,
    CheckpointManager,
    save_model_weights,
)
from espnet_codec_lm.train.distributed import DistEnv


def _model_and_opt(seed: int):
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.1)
    return model, opt


def _train(model, opt, steps: int, seed: int) -> list[float]:
    g = torch.Generator().manual_seed(seed)
    losses = []
    for _ in range(steps):
        x = torch.randn(5, 4, generator=g)
        loss = model(x).pow(2).mean()
        loss.backward()
        opt.step()
        opt.zero_grad()
        losses.append(loss.item())
    return losses


def _save(mgr, step, model, opt, **extra):
    return mgr.save(step, model, opt, {"step": step, **extra}, {"data": {"index": step}})


def test_round_trip_continues_exactly(tmp_path):
    env = DistEnv()
    model, opt = _model_and_opt(0)
    _train(model, opt, 3, seed=1)
    mgr = CheckpointManager(tmp_path / "ck", env, keep_last=2)
    ckpt = _save(mgr, 3, model, opt)
    assert sorted(p.name for p in ckpt.iterdir()) == [
        "model.safetensors",
        "optimizer.json",
        "optimizer.safetensors",
        "rank0.json",
        "trainer.json",
    ]
    expected = _train(model, opt, 2, seed=2)

    model2, opt2 = _model_and_opt(123)  # different weights, fresh optimiser
    trainer_state, rank_state = CheckpointManager(tmp_path / "ck", env).load(ckpt, model2, opt2)
    assert trainer_state["step"] == 3 and trainer_state["world_size"] == 1
    assert rank_state == {"data": {"index": 3}}
    assert _train(model2, opt2, 2, seed=2) == expected  # bit-identical: moments restored too
    for a, b in zip(model.parameters(), model2.parameters()):
        assert torch.equal(a, b)


def test_load_never_unpickles(tmp_path, monkeypatch):
    env = DistEnv()
    model, opt = _model_and_opt(0)
    _train(model, opt, 1, seed=1)
    ckpt = _save(CheckpointManager(tmp_path, env), 1, model, opt)

    def refuse(*a, **k):
        raise AssertionError("unpickling during checkpoint load")

    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(torch, "load", refuse)
    model2, opt2 = _model_and_opt(1)
    CheckpointManager(tmp_path, env).load(ckpt, model2, opt2)
    assert torch.equal(model2[0].weight, model[0].weight)
    assert opt2.state_dict()["state"][0]["exp_avg"].shape == (8, 4)


def test_keep_last_and_latest_pointer(tmp_path):
    env = DistEnv()
    model, opt = _model_and_opt(0)
    mgr = CheckpointManager(tmp_path, env, keep_last=2)
    for step in (1, 2, 3, 4):
        _train(model, opt, 1, seed=step)
        _save(mgr, step, model, opt)
    assert mgr.steps() == [3, 4]
    assert mgr.latest().name == "step_00000004"
    assert (tmp_path / "latest").read_text() == "step_00000004\n"
    # saving a step that already exists (a resumed run reaching it again) keeps it and moves latest
    (tmp_path / "latest").write_text("step_00000003\n")
    assert _save(mgr, 4, model, opt).name == "step_00000004"
    assert mgr.latest().name == "step_00000004"


def test_crash_while_writing_leaves_the_previous_checkpoint(tmp_path):
    env = DistEnv()
    model, opt = _model_and_opt(0)
    _train(model, opt, 1, seed=0)
    _save(CheckpointManager(tmp_path, env), 1, model, opt)

    def dies_half_way(state, directory):
        save_model_weights(state, directory)
        (directory / "optimizer.safetensors").write_bytes(b"\x00" * 10)  # torn write
        raise KeyboardInterrupt("killed while writing")

    mgr = CheckpointManager(tmp_path, env, model_writer=dies_half_way)
    with pytest.raises(KeyboardInterrupt):
        _save(mgr, 2, model, opt)
    assert (tmp_path / ".tmp-step_00000002").is_dir()
    assert not (tmp_path / "step_00000002").exists()
    restarted = CheckpointManager(tmp_path, env)  # the next start cleans up
    assert not (tmp_path / ".tmp-step_00000002").exists()
    assert restarted.latest().name == "step_00000001"


def test_bad_latest_and_world_size_mismatch_are_one_line_errors(tmp_path):
    env = DistEnv()
    model, opt = _model_and_opt(0)
    mgr = CheckpointManager(tmp_path, env)
    assert mgr.latest() is None
    ckpt = _save(mgr, 1, model, opt)
    trainer = json.loads((ckpt / "trainer.json").read_text())
    (ckpt / "trainer.json").write_text(json.dumps({**trainer, "world_size": 8}))
    with pytest.raises(CheckpointError, match="saved with 8 processes, resuming with 1"):
        mgr.load(ckpt, model, opt)
    (tmp_path / "latest").write_text("step_00000009\n")
    with pytest.raises(CheckpointError) as e:
        mgr.latest()
    assert "step_00000009" in str(e.value) and "\n" not in str(e.value)


def test_tied_weights_are_saved(tmp_path):
    """safetensors refuses tensors sharing memory; tied weights get their own copy."""
    emb = torch.nn.Embedding(5, 3)
    head = torch.nn.Linear(3, 5, bias=False)
    head.weight = emb.weight
    model = torch.nn.ModuleDict({"emb": emb, "head": head})
    opt = torch.optim.AdamW(model.parameters())
    ckpt = _save(CheckpointManager(tmp_path, DistEnv()), 1, model, opt)
    from safetensors.torch import load_file

    sd = load_file(str(ckpt / "model.safetensors"))
    assert torch.equal(sd["emb.weight"], emb.weight.detach())


@pytest.mark.parametrize("victim", ["optimizer.safetensors", "model.safetensors", "rank0.json"])
def test_corrupt_file_is_a_one_line_error_naming_it(tmp_path, victim):
    model, opt = _model_and_opt(0)
    _train(model, opt, 1, seed=0)
    mgr = CheckpointManager(tmp_path, DistEnv())
    ckpt = _save(mgr, 1, model, opt)
    (ckpt / victim).write_bytes(b"\x80\x04garbage that is neither JSON nor safetensors")
    with pytest.raises(CheckpointError) as e:
        mgr.load(ckpt, model, opt)
    assert victim in str(e.value) and "\n" not in str(e.value)
