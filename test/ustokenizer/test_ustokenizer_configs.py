"""The shipped USTokenizer configs load, the mini one builds at 25 Hz, and the paper's carries
the paper's figures."""

from __future__ import annotations

from pathlib import Path

import pytest

from espnet_codec_lm.config import ConfigError, load_config
from espnet_codec_lm.ustokenizer.config import USTokenizerTrainConfig
from espnet_codec_lm.ustokenizer.model import USTokenizer

CONF = Path(__file__).resolve().parents[2] / "egs2/TEMPLATE/codec_lm1/conf/ustokenizer"


@pytest.mark.parametrize("name", sorted(p.name for p in CONF.glob("*.yaml")))
def test_config_loads(name):
    cfg = load_config(USTokenizerTrainConfig, CONF / name)
    q = cfg.model.quantizer
    assert (q.num_codebooks, q.codebook_size) == (1, 1024)
    assert (cfg.loss.commit_weight, cfg.loss.recon_weight, cfg.loss.text_weight) == (1, 45, 5)


def test_mini_builds_at_25hz_with_a_few_million_parameters():
    cfg = load_config(USTokenizerTrainConfig, CONF / "mini.yaml")
    model = USTokenizer(cfg.model, adapter_dim=256)
    assert cfg.model.frontend.kind == "logmel" and model.frame_rate == 25.0
    assert 1e6 <= sum(p.numel() for p in model.parameters()) <= 3e6


def test_paper_figures():
    cfg = load_config(USTokenizerTrainConfig, CONF / "paper.yaml")
    assert cfg.model.frontend.kind == "whisper" and "whisper-medium" in cfg.model.frontend.path
    assert cfg.model.encoder.strides == [2]  # Whisper's 50 Hz -> 25 Hz


def test_more_than_one_codebook_is_refused(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("model:\n  quantizer: {num_codebooks: 2}\n")
    with pytest.raises(ConfigError, match="num_codebooks must be 1"):
        load_config(USTokenizerTrainConfig, bad)
