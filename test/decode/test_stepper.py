"""The stepper: restricted main head == full head at the legal rows; padding is invisible."""

from __future__ import annotations

import pytest
import torch
from decode_helpers import speech_prefix, text_prefix

from espnet_codec_lm.decode.constraints import HeadConstraints
from espnet_codec_lm.decode.stepper import Stepper


@pytest.mark.parametrize("modality", ["text", "speech"])
def test_restricted_head_equals_full_head_rows(tiny_lm, modality):
    model, tok = tiny_lm
    cons = HeadConstraints(model.layout)
    make = text_prefix if modality == "text" else speech_prefix
    ps = [torch.as_tensor(make(model.layout, tok.encode(t))) for t in ("the cat", "我们明天见")]
    full = Stepper(model).prefill(ps).main
    part = Stepper(model, head_ranges=cons.ranges(modality)).prefill(ps).main
    legal = cons.legal_ids(modality)
    assert part.shape == (2, int(legal.sum()))
    torch.testing.assert_close(part, full[:, legal], rtol=0, atol=1e-5)
    # local -> vocabulary ids: the content range, then the end token last
    (lo, hi), (end, _) = cons.ranges(modality)
    ids = cons.to_ids(torch.arange(part.shape[1]), modality)
    assert ids.tolist() == [*range(lo, hi), end] and end == cons.end_token(modality)
    assert bool(legal[ids].all())


@pytest.mark.parametrize("padding_side", ["left", "right"])
def test_padded_rows_compute_what_they_compute_alone(tiny_lm, padding_side):
    model, tok = tiny_lm
    lay = model.layout
    ps = [torch.as_tensor(speech_prefix(lay, tok.encode(t))) for t in ("a", "a little dog runs")]
    feed = torch.as_tensor(lay.codes_to_ids([[1, 2, 3], [4, 5, 6]]))
    alone = []
    for p, f in zip(ps, feed):
        st = Stepper(model)
        first = st.prefill([p])
        alone.append((first.main[0], st.step(f[None]).main[0], st.step(f[None]).extra[0]))
    st = Stepper(model, padding_side=padding_side)
    first = st.prefill(ps)
    second = st.step(feed)
    third = st.step(feed)
    for i in range(2):
        torch.testing.assert_close(first.main[i], alone[i][0], rtol=0, atol=2e-5)
        torch.testing.assert_close(second.main[i], alone[i][1], rtol=0, atol=2e-5)
        torch.testing.assert_close(third.extra[i], alone[i][2], rtol=0, atol=2e-5)


def test_growing_kv_cache_matches_the_stock_dynamic_cache(tiny_lm):
    """The growing-buffer cache gives the stock ``DynamicCache``'s logits step after step, across
    capacity growth (64 -> 128 positions), row reordering / duplication and dropped rows."""
    from transformers.cache_utils import DynamicCache

    from espnet_codec_lm.decode import stepper as stepper_mod

    model, tok = tiny_lm
    lay = model.layout
    ps = [torch.as_tensor(speech_prefix(lay, tok.encode(t))) for t in ("a", "a little dog runs")]
    torch.manual_seed(0)
    feeds = [torch.as_tensor(lay.codes_to_ids(torch.randint(0, 16, (4, 3)))) for _ in range(90)]

    def run(make_cache):
        orig = stepper_mod.new_kv_cache
        stepper_mod.new_kv_cache = make_cache
        try:
            st = Stepper(model)
            outs = [st.prefill(ps).main]
            st.select(torch.tensor([0, 1, 1, 0]))  # duplicate rows (samples / beams)
            for i, f in enumerate(feeds):
                if i == 60:  # drop a row, reorder the rest (finished hypotheses, beam reorder)
                    st.select(torch.tensor([2, 0, 1]))
                outs.append(st.step(f[: st.num_rows]).main)
            return outs, st.cache
        finally:
            stepper_mod.new_kv_cache = orig

    ours, cache = run(stepper_mod.new_kv_cache)
    stock, stock_cache = run(lambda m: DynamicCache(config=m.config))
    assert all(type(layer).__name__ == "GrowingKVLayer" for layer in cache.layers)
    assert not any(type(layer).__name__ == "GrowingKVLayer" for layer in stock_cache.layers)
    assert cache.get_seq_length() == stock_cache.get_seq_length() > 64  # grew past 64
    for a, b in zip(ours, stock):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-5)
