"""Codec training on a chosen device: the ``device`` / ``precision`` options, the bf16 autocast
path (exercised on the CPU: the same dtype guards as on CUDA), resuming an experiment of before
these options. CPU only: nothing here needs a GPU."""

from __future__ import annotations

import math

import pytest
import torch
import yaml
from codec_testutil import tiny_model_config, tiny_train_config
from test_train import fixed_batch

from espnet_codec_lm.codec.trainer import CodecTrainer, resolve_device, train


def test_device_option():
    assert resolve_device("cpu") == torch.device("cpu")
    if torch.cuda.is_available():
        assert resolve_device("auto", 1) == torch.device("cuda", 1)
    else:
        assert resolve_device("auto") == torch.device("cpu")
        with pytest.raises(ValueError, match="CUDA is not available"):
            resolve_device("cuda")
    cfg = tiny_train_config()
    cfg.device = "cpu"
    trainer = CodecTrainer(cfg)
    assert trainer.device.type == "cpu" and not trainer.bf16
    assert all(p.device.type == "cpu" for p in trainer.model.parameters())


def test_bf16_on_cpu_is_fp32_and_changes_nothing():
    cfg = tiny_train_config(adversarial=True)
    cfg.device, cfg.loss.adv_start_step = "cpu", 0
    a = CodecTrainer(cfg).train_step(fixed_batch(n=2))
    cfg.precision = "bf16"
    trainer = CodecTrainer(cfg)
    assert not trainer.bf16
    assert trainer.train_step(fixed_batch(n=2)) == a


@pytest.mark.parametrize("kind", ["spectral", "seanet"])
def test_autocast_path_keeps_losses_and_quantiser_fp32(kind):
    """What ``precision: bf16`` does on CUDA, run under the CPU's bf16 autocast: the STFTs, the
    losses and the quantiser's EMA stay fp32, the weights stay fp32, all losses are finite."""
    cfg = tiny_train_config(adversarial=True)
    cfg.model = tiny_model_config(kind)
    cfg.device, cfg.loss.adv_start_step, cfg.loss.stft_weight = "cpu", 0, 1.0
    trainer = CodecTrainer(cfg)
    trainer.bf16 = True  # forced: on CPU the trainer itself never autocasts
    seen = {}

    def spy(module, args, output):
        seen[type(module).__name__] = output[0].dtype if isinstance(output, tuple) else None

    trainer.model.quantizer.register_forward_hook(spy)
    trainer.model.encoder.register_forward_hook(
        lambda m, a, o: seen.__setitem__("encoder", o.dtype)
    )
    for _ in range(2):
        out = trainer.train_step(fixed_batch(n=2))
        assert {"mel", "stft", "commit", "adv", "feat", "d_loss", "g_loss"} <= set(out)
        assert all(math.isfinite(v) for v in out.values()), out
    assert seen["ResidualVQ"] == torch.float32
    if kind == "seanet":  # the spectral encoder ends in LayerNorm/linear (autocast decides)
        assert seen["encoder"] == torch.bfloat16  # the networks did run in bf16
    state = trainer.model.state_dict()
    assert all(v.dtype in (torch.float32, torch.bool, torch.int64) for v in state.values())
    assert bool(trainer.model.quantizer.codebooks[0].initialized)


def test_resume_an_experiment_from_before_the_device_options(data_dir, tmp_path):
    """An experiment whose config.yaml has no ``device`` / ``precision`` resumes (the options
    may change on a resume: moving a run to a GPU machine)."""
    cfg = tiny_train_config()
    cfg.data.train = str(data_dir)
    cfg.max_steps, cfg.ckpt_every_s = 2, 1e9
    exp = tmp_path / "exp"
    train(cfg, exp)
    saved = yaml.safe_load((exp / "config.yaml").read_text())
    assert saved["device"] == "auto" and saved["precision"] == "fp32"
    del saved["device"], saved["precision"]
    (exp / "config.yaml").write_text(yaml.safe_dump(saved))
    cfg.max_steps, cfg.device = 3, "cpu"
    assert train(cfg, exp).step == 3
