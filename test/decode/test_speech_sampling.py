"""Speech targets: top-k / temperature sampling over the parallel heads, seeds, batching."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from decode_helpers import BigramLM, speech_prefix

from espnet_codec_lm.config import ConfigError
from espnet_codec_lm.decode.config import DecodingConfig, SpeechSamplingConfig
from espnet_codec_lm.decode.decoder import DecodeInputError, Decoder
from espnet_codec_lm.decode.speech_sampling import guide


def _decoder(model, batch_size=8, padding_side="left", use_cache=True, seed=0, **speech):
    cfg = DecodingConfig(
        speech=SpeechSamplingConfig(**speech),
        batch_size=batch_size,
        padding_side=padding_side,
        use_cache=use_cache,
        seed=seed,
    )
    return Decoder(model, cfg)


def _bigram_speech(lay, end_logit=-50.0, extra_scale=1.0):
    """Main head from any token: codebook-1 code c has logit c (0..3), the end `end_logit`,
    every other id 30 (illegal and the most likely); parallel head: code c has logit -c."""
    t = torch.full((lay.size, lay.size), 30.0)
    lo, hi = lay.codebook_range(0)
    t[:, lo:hi] = torch.arange(hi - lo, dtype=torch.float)
    t[:, lay.speech_end] = end_logit
    C = lay.codebook_size
    extra = -extra_scale * torch.arange(C, dtype=torch.float).expand(lay.size, 1, C).clone()
    return BigramLM(lay, t, extra)


def test_greedy_takes_the_argmax_of_every_head(small_layout):
    lay = small_layout
    model = _bigram_speech(lay)
    hyp = _decoder(model, method="greedy", num_samples=1, max_len_ratio=0, max_len_offset=6)
    out = hyp.decode_speech([speech_prefix(lay, [1, 2])])[0][0]
    assert out.codes.tolist() == [[3, 0]] * 6  # cb1: highest legal code; cb2: code 0
    assert not out.finished  # stopped by the length guard


def test_top_k_restricts_and_temperature_spreads(small_layout):
    lay = small_layout
    model = _bigram_speech(lay)
    prefix = [speech_prefix(lay, [1])]
    frames = np.concatenate(
        [
            h.codes
            for h in _decoder(
                model, top_k=2, temperature=1.0, num_samples=20, max_len_cap=30, min_len=30
            ).decode_speech(prefix)[0]
        ]
    )
    assert frames.shape == (600, 2)
    assert set(frames[:, 0].tolist()) == {2, 3}  # the two best codebook-1 codes, never illegal
    assert set(frames[:, 1].tolist()) == {0, 1}
    # P(3) = e^3 / (e^3 + e^2) = 0.731 at temperature 1; 0.5 + a little at a high temperature
    p3 = float((frames[:, 0] == 3).mean())
    assert abs(p3 - 1 / (1 + math.e**-1)) < 0.06
    hot = _decoder(
        model, top_k=2, temperature=20.0, num_samples=20, max_len_cap=30, min_len=30
    ).decode_speech(prefix)[0]
    p3_hot = float(np.mean([(h.codes[:, 0] == 3).mean() for h in hot]))
    assert abs(p3_hot - 1 / (1 + math.exp(-1 / 20))) < 0.06


def test_end_token_stops_and_min_len_holds(small_layout):
    lay = small_layout
    model = _bigram_speech(lay, end_logit=10.0)  # the end dominates once allowed
    dec = _decoder(model, method="greedy", num_samples=1, min_len=4)
    out = dec.decode_speech([speech_prefix(lay, [1])])[0][0]
    assert len(out.codes) == 4 and out.finished


def test_end_prob_stops_where_sampling_would_run_on(small_layout):
    """p(end) = e^2.9 / (e^2.9 + e^3 + e^2 + e^1 + e^0) = 0.368 at every step, just below the
    best code. With top-k 1 the end is never drawn: the guard stops every sample; with
    end_prob 0.35 every sample stops after min_len, finished; with 0.4 never."""
    lay = small_layout
    model = _bigram_speech(lay, end_logit=2.9)
    prefix = [speech_prefix(lay, [1])]
    kw = {"top_k": 1, "temperature": 1.0, "num_samples": 4, "max_len_cap": 20, "min_len": 3}
    plain = _decoder(model, **kw).decode_speech(prefix)[0]
    assert all(len(h.codes) == 20 and not h.finished for h in plain)
    stop = _decoder(model, end_prob=0.35, **kw).decode_speech(prefix)[0]
    assert all(len(h.codes) == 3 and h.finished for h in stop)
    high = _decoder(model, end_prob=0.4, **kw).decode_speech(prefix)[0]
    assert all(len(h.codes) == 20 for h in high)


def test_fixed_seed_reproducible_and_samples_differ(tiny_lm):
    model, tok = tiny_lm
    lay = model.layout
    ps = [speech_prefix(lay, tok.encode(t)) for t in ("the cat.", "今天", "we will meet")]
    kw = dict(num_samples=3, max_len_cap=12, min_len=12)
    a = _decoder(model, seed=7, **kw).decode_speech(ps)
    b = _decoder(model, seed=7, **kw).decode_speech(ps)
    c = _decoder(model, seed=8, **kw).decode_speech(ps)
    codes = lambda r: [[h.codes.tolist() for h in hs] for hs in r]  # noqa: E731
    assert codes(a) == codes(b)
    assert codes(a) != codes(c)
    assert a[0][0].codes.tolist() != a[0][1].codes.tolist()  # samples of one input differ
    for hs in a:
        for h in hs:
            assert h.codes.shape == (12, lay.num_streams)
            assert h.codes.min() >= 0 and h.codes.max() < lay.codebook_size


@pytest.mark.parametrize("padding_side", ["left", "right"])
def test_batch_equals_one_by_one(tiny_lm, padding_side):
    model, tok = tiny_lm
    lay = model.layout
    ps = [speech_prefix(lay, tok.encode(t)) for t in ("a", "the little dog runs", "我们明天", "hi")]
    kw = dict(num_samples=2, max_len_cap=15)
    one = _decoder(model, batch_size=1, **kw).decode_speech(ps, keys=list("abcd"))
    many = _decoder(model, batch_size=3, padding_side=padding_side, **kw).decode_speech(
        ps, keys=list("abcd")
    )
    assert [[h.codes.tolist() for h in hs] for hs in one] == [
        [h.codes.tolist() for h in hs] for hs in many
    ]


def test_cached_equals_uncached_greedy_speech(tiny_lm):
    model, tok = tiny_lm
    ps = [speech_prefix(model.layout, tok.encode(t)) for t in ("the cat sat.", "我们")]
    outs = [
        _decoder(model, method="greedy", num_samples=1, max_len_cap=12, use_cache=c).decode_speech(
            ps
        )
        for c in (True, False)
    ]
    assert [h[0].codes.tolist() for h in outs[0]] == [h[0].codes.tolist() for h in outs[1]]


def test_guidance_combines_log_probabilities():
    cond = torch.tensor([[2.0, 1.0, float("-inf")]])
    uncond = torch.tensor([[0.0, 1.0, 0.5]])
    lc, lu = cond.log_softmax(-1), uncond.log_softmax(-1)
    got = guide(cond, uncond, 3.0)
    assert torch.allclose(got[0, :2], lu[0, :2] + 3.0 * (lc[0, :2] - lu[0, :2]))
    assert got[0, 2] == float("-inf")  # forbidden by one branch: stays forbidden
    assert torch.allclose(guide(cond, uncond, 1.0)[0, :2], lc[0, :2])


def test_guidance_with_the_condition_kept_is_plain_sampling(tiny_lm):
    """Twins fed the same prefix give the conditional distribution at any scale: the doubled
    rows, their cache and the dropping of finished rows keep each twin beside its row."""
    model, tok = tiny_lm
    ps = [speech_prefix(model.layout, tok.encode(t)) for t in ("the cat.", "今天", "we will meet")]
    kw = dict(num_samples=2, max_len_cap=14, temperature=1.0)
    plain = _decoder(model, **kw).decode_speech(ps, keys=list("abc"))
    twin = _decoder(model, guidance=4.0, **kw).decode_speech(ps, list("abc"), uncond_prefixes=ps)
    other = [speech_prefix(model.layout, tok.encode("x"))] * 3
    guided = _decoder(model, guidance=4.0, **kw).decode_speech(ps, list("abc"), other)
    codes = lambda r: [[h.codes.tolist() for h in hs] for hs in r]  # noqa: E731
    assert codes(twin) == codes(plain)
    assert codes(guided) != codes(plain)
    assert [[h.finished for h in hs] for hs in twin] == [[h.finished for h in hs] for hs in plain]


def test_guidance_needs_unconditional_prefixes(tiny_lm):
    model, tok = tiny_lm
    ps = [speech_prefix(model.layout, tok.encode("the cat."))]
    with pytest.raises(DecodeInputError, match="guidance 2.0 needs one unconditional prefix"):
        _decoder(model, guidance=2.0).decode_speech(ps)
    with pytest.raises(ConfigError, match="guidance must be >= 1"):
        SpeechSamplingConfig(guidance=0.5)
