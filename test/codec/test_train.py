"""Codec training: losses fall on a fixed batch, the GAN step runs, runs resume."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from codec_testutil import speechlike, tiny_train_config
from safetensors.torch import load_file

from espnet_codec_lm.codec.trainer import CodecTrainer, codebook_usage, train


def fixed_batch(n: int = 4, length: int = 3200, seed: int = 0) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    return torch.from_numpy(np.stack([speechlike(length, rng) for _ in range(n)]))


def test_generator_and_discriminator_steps_lower_the_loss():
    torch.manual_seed(0)
    cfg = tiny_train_config(adversarial=True)
    cfg.loss.adv_start_step = 0
    trainer = CodecTrainer(cfg)
    wav = fixed_batch(n=2)
    first = trainer.train_step(wav)
    assert {"d_loss", "adv", "feat", "mel", "commit"} <= set(first)
    d_params = [p.detach().clone() for p in trainer.disc.parameters()]
    hist = [trainer.train_step(wav) for _ in range(9)]
    assert np.mean([h["mel"] for h in hist[-3:]]) < 0.85 * first["mel"]
    assert any(not torch.equal(a, b) for a, b in zip(d_params, trainer.disc.parameters()))
    assert trainer.step == 10


def test_warmup_skips_discriminator():
    cfg = tiny_train_config(adversarial=True)
    cfg.loss.adv_start_step = 100
    out = CodecTrainer(cfg).train_step(fixed_batch())
    assert "d_loss" not in out and "adv" not in out


def test_codebook_usage_values():
    hist = np.zeros(8, np.int64)
    hist[:4] = 5  # four codes equally likely: perplexity 4, half the codes used
    ppl, used = codebook_usage(hist)
    assert abs(ppl - 4.0) < 1e-9 and used == 0.5
    assert codebook_usage(np.zeros(4, np.int64)) == (0.0, 0.0)


def test_train_writes_outputs_and_resumes(data_dir, tmp_path):
    cfg = tiny_train_config()
    cfg.data.train = str(data_dir)
    cfg.data.valid = str(data_dir)
    cfg.max_steps = 4
    cfg.ckpt_every_s = 1e9  # checkpoint only at the end (max_steps)
    exp = tmp_path / "exp"
    train(cfg, exp, command="test")
    for name in (
        "checkpoint/generator.safetensors",
        "checkpoint/trainer.json",
        "codec/model.safetensors",
        "codec/config.yaml",
        "losses.png",
        "config.yaml",
        "run_info.yaml",
    ):
        assert (exp / name).is_file(), name
    rows = [json.loads(line) for line in (exp / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [2, 4]
    assert "ppl_cb1" in rows[0] and "valid_mel_q3" in rows[0]
    assert json.loads((exp / "codec/train_state.json").read_text())["step"] == 4
    # resuming continues the step count and the weights; a fresh run would restart from 0
    assert not (exp / "checkpoint.pt").exists() and (exp / "tensorboard").is_dir()
    state4 = load_file(str(exp / "checkpoint" / "generator.safetensors"))
    cfg.max_steps = 6
    trainer = train(cfg, exp)
    assert trainer.step == 6
    assert len((exp / "run_info.yaml").read_text().split("from_step")) == 3
    resumed = CodecTrainer(cfg)
    resumed.load(exp / "checkpoint", None)
    assert resumed.step == 6
    assert any(not torch.equal(state4[k], v) for k, v in resumed.model.state_dict().items())


def test_sigterm_checkpoints_and_stops(data_dir, tmp_path, monkeypatch):
    import os
    import signal

    cfg = tiny_train_config()
    cfg.data.train = str(data_dir)
    cfg.max_steps = 50
    cfg.ckpt_every_s = 1e9
    real_step = CodecTrainer.train_step

    def step_then_term(self, wav):
        out = real_step(self, wav)
        if self.step == 3:
            os.kill(os.getpid(), signal.SIGTERM)  # as a scheduler or `kill` would
        return out

    monkeypatch.setattr(CodecTrainer, "train_step", step_then_term)
    trainer = train(cfg, tmp_path / "exp")
    assert trainer.step == 3
    assert json.loads((tmp_path / "exp/checkpoint/trainer.json").read_text())["step"] == 3
    assert signal.getsignal(signal.SIGTERM) is not None  # handler restored


def test_resume_with_reshaped_untrained_discriminator(tmp_path):
    cfg = tiny_train_config(adversarial=True)
    cfg.loss.adv_start_step = 100  # discriminator not trained yet
    a = CodecTrainer(cfg, tmp_path)
    a.train_step(fixed_batch(n=2))
    a.save(None)
    # the GAN is switched on with a smaller discriminator: fine, it never trained
    cfg.discriminator.period_channels = 8
    cfg.loss.adv_start_step = 0
    b = CodecTrainer(cfg, tmp_path)
    b.load(tmp_path / "checkpoint", None)
    assert b.step == 1
    assert "d_loss" in b.train_step(fixed_batch(n=2))  # now it trains
    b.save(None)
    cfg.discriminator.period_channels = 4  # ... and a trained one must match
    c = CodecTrainer(cfg, tmp_path)
    with pytest.raises(ValueError, match="discriminator does not match"):
        c.load(tmp_path / "checkpoint", None)


def test_resume_is_exact_and_reads_a_legacy_checkpoint(tmp_path):
    """Two steps, save, load into a fresh trainer, two more steps == four steps in one go (GAN
    on: both optimisers, the quantiser's and the dropout's RNG streams); a checkpoint.pt of
    before 2026-12 (torch.save) resumes to the same state and its next save replaces it."""
    cfg = tiny_train_config(adversarial=True)
    cfg.loss.adv_start_step = 0
    batches = [fixed_batch(n=2, seed=i) for i in range(4)]
    straight = CodecTrainer(cfg, tmp_path / "a")
    for b in batches:
        straight.train_step(b)
    first = CodecTrainer(cfg, tmp_path / "b")
    for b in batches[:2]:
        first.train_step(b)
    first.save(None)
    resumed = CodecTrainer(cfg, tmp_path / "b")
    resumed.load(tmp_path / "b" / "checkpoint", None)
    for b in batches[2:]:
        resumed.train_step(b)
    for (k, v), w in zip(straight.model.state_dict().items(), resumed.model.state_dict().values()):
        assert torch.equal(v, w), k
    for v, w in zip(straight.disc.state_dict().values(), resumed.disc.state_dict().values()):
        assert torch.equal(v, w)
    # the same state written the old way (what CodecTrainer.save wrote before 2026-12)
    legacy = {
        "step": first.step,
        "model": first.model.state_dict(),
        "opt_g": first.opt_g.state_dict(),
        "disc": first.disc.state_dict(),
        "opt_d": first.opt_d.state_dict(),
        "torch_rng": torch.get_rng_state(),
        "quant_rng": first.model.quantizer.gen.get_state(),
        "dropout_rng": first.dropout_gen.get_state(),
        "sampler": "",
    }
    old_dir = tmp_path / "old"
    old_dir.mkdir()
    torch.save(legacy, old_dir / "checkpoint.pt")
    from espnet_codec_lm.codec.trainer import find_checkpoint

    assert find_checkpoint(old_dir) == old_dir / "checkpoint.pt"
    old = CodecTrainer(cfg, old_dir)
    old.load(old_dir / "checkpoint.pt", None)
    assert old.step == 2
    for v, w in zip(old.model.state_dict().values(), first.model.state_dict().values()):
        assert torch.equal(v, w)
    old.save(None)
    assert find_checkpoint(old_dir) == old_dir / "checkpoint"
    assert not (old_dir / "checkpoint.pt").exists()
