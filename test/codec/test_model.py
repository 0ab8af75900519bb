"""The codec model: interface, shapes, round trips through files, quantiser, bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from codec_testutil import SR, speechlike, tiny_model_config

from espnet_codec_lm.codec import CodecInputError, SoundStreamCodec, load_codec, save_codec
from espnet_codec_lm.codec.config import QuantizerConfig
from espnet_codec_lm.codec.quantizer import ResidualVQ


@pytest.fixture(params=["spectral", "seanet"])
def codec(request) -> SoundStreamCodec:
    torch.manual_seed(0)
    return SoundStreamCodec(tiny_model_config(request.param)).eval()


def test_interface_and_shapes(codec):
    assert codec.sample_rate == SR and codec.hop_length == 320 and codec.frame_rate == 50.0
    assert codec.num_codebooks == 8 and codec.codebook_size == 64
    wav = torch.from_numpy(speechlike(SR, np.random.default_rng(0)))
    for n_q in (1, 3, 8):
        codes = codec.encode(wav, n_q)
        assert codes.shape == (n_q, 50) and codes.dtype == torch.int64
        assert 0 <= int(codes.min()) and int(codes.max()) < 64
        assert codec.decode(codes).shape == (50 * 320,)
    # batches; a length that is not a whole number of frames rounds up
    batch = torch.stack([wav[:1000], wav[1000:2000]])
    codes = codec.encode(batch, 3)
    assert codes.shape == (2, 3, math.ceil(1000 / 320))
    assert codec.decode(codes).shape == (2, 4 * 320)


def test_codes_are_prefixes(codec):
    """Encoding with fewer codebooks gives the first rows of encoding with more (RVQ)."""
    wav = torch.from_numpy(speechlike(8000, np.random.default_rng(1)))
    full = codec.encode(wav, 8)
    assert torch.equal(codec.encode(wav, 3), full[:3])


def test_save_load_round_trip(codec, tmp_path):
    wav = torch.from_numpy(speechlike(6400, np.random.default_rng(2)))
    codes = codec.encode(wav, 8)
    save_codec(codec, tmp_path / "c")
    assert sorted(p.name for p in (tmp_path / "c").iterdir()) == [
        "config.yaml",
        "model.safetensors",
    ]
    again = load_codec(tmp_path / "c")
    assert torch.equal(again.encode(wav, 8), codes)
    torch.testing.assert_close(again.decode(codes), codec.decode(codes))


def test_bad_input(codec):
    with pytest.raises(CodecInputError, match="sample rate 8000"):
        codec.encode(torch.zeros(8000), sample_rate=8000)
    bad = torch.zeros(4000)
    bad[10] = float("nan")
    with pytest.raises(CodecInputError, match="NaN"):
        codec.encode(bad)
    with pytest.raises(CodecInputError, match="empty"):
        codec.encode(torch.zeros(0))
    # shorter than one frame: padded to one frame; silence encodes and decodes to finite audio
    assert codec.encode(torch.zeros(100), 3).shape == (3, 1)
    out = codec.decode(codec.encode(torch.zeros(SR), 3))
    assert torch.isfinite(out).all()
    with pytest.raises(ValueError, match="outside"):
        codec.decode(torch.full((3, 5), 64))
    with pytest.raises(ValueError, match="n_q"):
        codec.encode(torch.zeros(SR), 9)


def test_quantizer_dropout_draws_every_bandwidth():
    rvq = ResidualVQ(16, QuantizerConfig(codebook_size=64), frame_rate=50.0)
    # 0.5, 1, 1.5, 2, 4 kbps at 50 Hz x 10 bits... with 64 codes (6 bits) they are other counts,
    # so check the paper's 1,024 codes too
    paper = ResidualVQ(16, QuantizerConfig(), frame_rate=50.0)
    assert paper.dropout_nq == [1, 2, 3, 4, 8]
    draws = paper.draw_n_q(2000, torch.Generator().manual_seed(0))
    counts = torch.bincount(draws, minlength=9)[[1, 2, 3, 4, 8]]
    assert (counts > 300).all() and int(counts.sum()) == 2000  # ~uniform over the five
    assert rvq.n_q_for_bandwidth(100.0, 50.0, 6) == 8  # capped at the number of codebooks


@pytest.mark.parametrize("kind", ["euclidean", "factorized"])
def test_quantizer_usage_recovers_from_collapse(kind):
    """k-means init + EMA + dead-code replacement spread the codes over clustered data even
    when the codebook starts collapsed onto one vector."""
    torch.manual_seed(0)
    cfg = QuantizerConfig(kind=kind, num_codebooks=1, codebook_size=32, dead_code_frames=200)
    rvq = ResidualVQ(8, cfg, frame_rate=50.0).train()
    centres = torch.randn(32, 8) * 3

    def batch():
        idx = torch.randint(0, 32, (4 * 50,))
        return (centres[idx] + 0.05 * torch.randn(200, 8)).T.reshape(8, 4, 50).permute(1, 0, 2)

    rvq(batch(), 1)  # k-means initialisation
    cb = rvq.codebooks[0]
    cb.embed[:] = cb.embed[0]  # force a collapse
    cb.embed_sum[:] = cb.embed[0]
    for _ in range(30):
        rvq(batch(), 1)
    rvq.eval()
    codes = rvq.encode(batch(), 1)
    assert len(torch.unique(codes)) >= 20
    assert rvq.codebooks[0].frames_seen == 31 * 200


def test_euclidean_rvq_reduces_the_residual():
    """Each Euclidean stage removes part of the residual, so more codebooks = closer latent."""
    torch.manual_seed(0)
    rvq = ResidualVQ(8, QuantizerConfig(codebook_size=64), frame_rate=50.0).train()
    z = torch.randn(16, 8, 50)
    for _ in range(5):
        rvq(z, 8)  # k-means init and a few EMA updates on this data
    rvq.eval()
    errs = [(rvq.decode(rvq.encode(z, n)) - z).pow(2).mean().item() for n in (1, 2, 4, 8)]
    assert errs == sorted(errs, reverse=True) and errs[-1] < 0.5 * errs[0]
