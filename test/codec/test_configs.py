"""The shipped codec configs load, build, and the paper's carries the paper's figures."""

from __future__ import annotations

from pathlib import Path

import pytest

from espnet_codec_lm.codec import SoundStreamCodec
from espnet_codec_lm.codec.config import CodecTrainConfig
from espnet_codec_lm.config import ConfigError, load_config

CONF = Path(__file__).resolve().parents[2] / "egs2/TEMPLATE/codec_lm1/conf/codec"


@pytest.mark.parametrize("name", sorted(p.name for p in CONF.glob("*.yaml")))
def test_config_loads_and_builds(name):
    cfg = load_config(CodecTrainConfig, CONF / name)
    codec = SoundStreamCodec(cfg.model)
    assert codec.frame_rate == 50.0 and codec.num_codebooks == 8 and codec.codebook_size == 1024
    assert codec.quantizer.dropout_nq == [1, 2, 3, 4, 8]


def test_paper_figures():
    cfg = load_config(CodecTrainConfig, CONF / "paper.yaml")
    assert (cfg.model.sample_rate, cfg.model.hop_length) == (16000, 320)
    assert cfg.model.encoder.type == "seanet" and cfg.model.decoder.type == "seanet"
    assert (cfg.data.segment_samples, cfg.data.batch_size) == (24000, 6)
    assert (cfg.optim.lr, cfg.optim.lr_decay, cfg.max_steps) == (2e-4, 0.999, 1_600_000)
    assert cfg.data.aug_prob == 0.2 and cfg.data.snr_range == [6.0, 20.0]
    assert cfg.model.quantizer.bandwidths == [0.5, 1.0, 1.5, 2.0, 4.0]
    d = cfg.discriminator
    assert d.periods and d.scales and d.stft_windows  # all three DAC families
    assert cfg.loss.adv_start_step == 0 and cfg.loss.mel_weight == 15.0


def test_unknown_key_is_an_error(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("model:\n  quantiser: {num_codebooks: 8}\n")
    with pytest.raises(ConfigError, match="quantiser"):
        load_config(CodecTrainConfig, bad)
