"""Text targets: beam search against hand-computed bigram results, greedy, cache, legal ids."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from decode_helpers import BigramLM, text_prefix

from espnet_codec_lm.decode.config import DecodingConfig, TextSearchConfig
from espnet_codec_lm.decode.decoder import DecodeInputError, Decoder

LOW = -50.0  # logit of "impossible" continuations


def _table(layout, rows: dict[int, dict[int, float]]) -> torch.Tensor:
    """Logits whose softmax gives exactly the listed probabilities (up to e^-50)."""
    t = torch.full((layout.size, layout.size), LOW)
    for prev, nxt in rows.items():
        for tok, p in nxt.items():
            t[prev, tok] = math.log(p)
    return t


def _decoder(model, **text):
    return Decoder(model, DecodingConfig(text=TextSearchConfig(**text)))


def test_beam_finds_what_greedy_misses(small_layout):
    lay = small_layout
    E, S = lay.text_end, lay.text_start
    # greedy: 1 (.6) -> 3 (.55) -> end (.7): mean logprob -0.489; beam: 2 (.4) -> end: -0.458
    model = BigramLM(
        lay,
        _table(lay, {S: {1: 0.6, 2: 0.4}, 1: {3: 0.55, 4: 0.45}, 2: {E: 1.0}, 3: {E: 0.7, 5: 0.3}}),
    )
    prefix = [text_prefix(lay, [7])]
    greedy = _decoder(model, method="greedy").decode_text(prefix)[0]
    assert greedy.ids == [1, 3] and greedy.finished
    assert greedy.logprob == pytest.approx(math.log(0.6 * 0.55 * 0.7), abs=1e-4)
    beam = _decoder(model, beam_size=2).decode_text(prefix)[0]
    assert beam.ids == [2] and beam.finished
    assert beam.score == pytest.approx(math.log(0.4) / 2, abs=1e-4)
    assert _decoder(model, beam_size=1).decode_text(prefix)[0].ids == greedy.ids


@pytest.mark.parametrize("alpha, expected", [(0.0, []), (1.0, [6, 7])])
def test_length_normalisation_changes_the_winner(small_layout, alpha, expected):
    lay = small_layout
    E, S = lay.text_end, lay.text_start
    # empty hypothesis: log .45 = -0.799; [6, 7]: log(.55 * .9 * .9) = -0.808 (mean -0.269)
    model = BigramLM(
        lay, _table(lay, {S: {E: 0.45, 6: 0.55}, 6: {7: 0.9, 8: 0.1}, 7: {E: 0.9, 9: 0.1}})
    )
    hyp = _decoder(model, beam_size=2, length_penalty=alpha).decode_text([text_prefix(lay, [1])])[0]
    assert hyp.ids == expected
    assert hyp.finished


def test_min_len_and_length_guard(small_layout):
    lay = small_layout
    E, S = lay.text_end, lay.text_start
    loop = {S: {E: 0.9, 1: 0.1}, 1: {E: 0.9, 1: 0.1}}
    model = BigramLM(lay, _table(lay, loop))
    prefix = [text_prefix(lay, [2])]
    assert _decoder(model).decode_text(prefix)[0].ids == []
    hyp = _decoder(model, min_len=3).decode_text(prefix)[0]
    assert hyp.ids == [1, 1, 1] and hyp.finished
    # never ends: the guard (ratio 0, offset 4 -> 4 positions) stops it, unfinished
    model = BigramLM(lay, _table(lay, {S: {1: 1.0}, 1: {1: 1.0}}))
    for method in ("greedy", "beam"):
        hyp = _decoder(model, method=method, max_len_ratio=0.0, max_len_offset=4).decode_text(
            prefix
        )[0]
        assert hyp.ids == [1, 1, 1, 1] and not hyp.finished


def test_heads_never_leave_the_text_range(small_layout):
    lay = small_layout
    # every illegal id (padding rows 10-11, codes, other boundary tokens) is the most likely
    t = torch.full((lay.size, lay.size), 0.0)
    t[:, lay.text_vocab_size : lay.text_end] = 20.0
    t[:, lay.text_end + 1 :] = 20.0
    t[:, 3] = 5.0
    t[3, lay.text_end] = 10.0
    model = BigramLM(lay, t)
    for method in ("greedy", "beam"):
        hyp = _decoder(model, method=method, beam_size=3).decode_text([text_prefix(lay, [1])])[0]
        assert hyp.ids == [3] and hyp.finished


def test_nbest_sorted_and_bounded(small_layout):
    lay = small_layout
    E, S = lay.text_end, lay.text_start
    model = BigramLM(
        lay, _table(lay, {S: {1: 0.5, 2: 0.3, 4: 0.2}, 1: {E: 1}, 2: {E: 1}, 4: {E: 1}})
    )
    hyp = _decoder(model, beam_size=3, nbest=3).decode_text([text_prefix(lay, [5])])[0]
    assert [ids for ids, _ in hyp.nbest] == [[1], [2], [4]]
    scores = [s for _, s in hyp.nbest]
    assert scores == sorted(scores, reverse=True)
    assert scores[1] == pytest.approx(math.log(0.3) / 2, abs=1e-4)


def _prefixes(model, tok, texts):
    lay = model.layout
    out = []
    for t in texts:
        out.append(text_prefix(lay, tok.encode(t)))
    return out


TEXTS = ["the cat sat.", "a little dog runs in the park", "今天天气很好", "we"]


@pytest.mark.parametrize("method", ["greedy", "beam"])
def test_cached_equals_uncached(tiny_lm, method):
    model, tok = tiny_lm
    ps = _prefixes(model, tok, TEXTS)
    outs = []
    for cache in (True, False):
        cfg = DecodingConfig(
            text=TextSearchConfig(method=method, beam_size=3, max_len_cap=12), use_cache=cache
        )
        outs.append([h.ids for h in Decoder(model, cfg).decode_text(ps)])
    assert outs[0] == outs[1]
    assert all(len(ids) > 0 for ids in outs[0])


def test_beam_one_equals_greedy_on_the_model(tiny_lm):
    model, tok = tiny_lm
    ps = _prefixes(model, tok, TEXTS)
    g = Decoder(model, DecodingConfig(text=TextSearchConfig(method="greedy", max_len_cap=15)))
    b = Decoder(model, DecodingConfig(text=TextSearchConfig(beam_size=1, max_len_cap=15)))
    assert [h.ids for h in g.decode_text(ps)] == [h.ids for h in b.decode_text(ps)]


@pytest.mark.parametrize("padding_side", ["left", "right"])
def test_batch_equals_one_by_one(tiny_lm, padding_side):
    model, tok = tiny_lm
    ps = _prefixes(model, tok, TEXTS)
    text = TextSearchConfig(beam_size=4, max_len_cap=10)
    one = Decoder(model, DecodingConfig(text=text, batch_size=1)).decode_text(ps)
    batch = Decoder(
        model, DecodingConfig(text=text, batch_size=4, padding_side=padding_side)
    ).decode_text(ps)
    assert [h.ids for h in batch] == [h.ids for h in one]
    np.testing.assert_allclose([h.score for h in batch], [h.score for h in one], atol=1e-4)
    lay = model.layout
    for h in batch:
        assert all(0 <= i < lay.text_vocab_size for i in h.ids)


def test_bad_inputs_name_the_input(tiny_lm):
    model, _ = tiny_lm
    dec = Decoder(model, DecodingConfig())
    with pytest.raises(DecodeInputError, match="utt7: prefix must be"):
        dec.decode_text([np.zeros((0, model.num_streams), np.int64)], keys=["utt7"])
    too_long = np.zeros((model.config.max_position_embeddings, model.num_streams), np.int64)
    with pytest.raises(DecodeInputError, match="utt8: input of .* leaves no room"):
        dec.decode_text([too_long], keys=["utt8"])


class _PieceTokenizer:
    """Ten text ids: 0-4 English words, 5-7 Mandarin characters, 8 a partial UTF-8 byte, 9 a
    digit (both scripts may use it)."""

    PIECES = ["the", " cat", " sat", ".", "A", "猫", "坐", "。", "\ufffd", "9"]

    def decode(self, ids):
        return "".join(self.PIECES[i] for i in ids)


def test_script_masks_by_hand(small_layout):
    from espnet_codec_lm.decode.constraints import script_bias, script_masks

    m = script_masks(_PieceTokenizer(), small_layout.text_vocab_size)
    assert m["en"].tolist() == [True] * 5 + [False] * 4 + [True]
    assert m["zh"].tolist() == [False, False, False, True, False, True, True, True, True, True]
    bias = script_bias(m, ["en", None, "zh"])
    assert bias.shape == (3, 11)  # 10 text ids + the end token, always allowed
    assert torch.isinf(bias[0, 5:9]).all() and bias[0, 10] == 0 and bias[1].eq(0).all()
    with pytest.raises(ValueError, match="no script constraint for language 'fr'"):
        script_bias(m, ["fr"])


@pytest.mark.parametrize("method", ["greedy", "beam"])
def test_script_constraint_keeps_the_target_language(small_layout, method):
    """The unconstrained best path is Mandarin; an English target must take the English one,
    a Mandarin target keeps it; without the constraint the Mandarin path wins everywhere."""
    lay = small_layout
    E, S = lay.text_end, lay.text_start
    model = BigramLM(lay, _table(lay, {S: {5: 0.7, 0: 0.3}, 5: {E: 1.0}, 0: {1: 1.0}, 1: {E: 1.0}}))
    prefixes = [text_prefix(lay, [3]), text_prefix(lay, [4])]
    kw = {"method": method, "beam_size": 2}
    free = _decoder(model, **kw).decode_text(prefixes)
    assert [h.ids for h in free] == [[5], [5]]
    dec = Decoder(
        model, DecodingConfig(text=TextSearchConfig(script="target", **kw)), _PieceTokenizer()
    )
    hyps = dec.decode_text(prefixes, langs=["en", "zh"])
    assert [h.ids for h in hyps] == [[0, 1], [5]]
    assert all(h.finished for h in hyps)
    with pytest.raises(ValueError, match="target language of each input"):
        dec.decode_text(prefixes)
