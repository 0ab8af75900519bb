"""The Mandarin audio speaks the characters: one Mandarin syllable per character (espeak's own
phonemes), not silent, duration growing with character count; English-spelled output fails."""

from __future__ import annotations

import numpy as np
import pytest

from espnet_codec_lm.data.data_dir import read_data_dir
from espnet_codec_lm.data.espeak import Voice, espeak_available, synthesize
from espnet_codec_lm.data.grammar import sample_unique_pairs
from espnet_codec_lm.data.speech_check import (
    active_fraction,
    check_mandarin,
    check_text_is_read_as_mandarin,
)

requires_espeak = pytest.mark.skipif(not espeak_available(), reason="espeak-ng is not installed")


@requires_espeak
def test_every_character_is_one_mandarin_syllable():
    pairs = sample_unique_pairs(40, np.random.default_rng(3))
    assert [check_text_is_read_as_mandarin(p.zh) for p in pairs] == [None] * 40
    # the plain cmn voice spells tone digits in English: caught
    why = check_text_is_read_as_mandarin(pairs[0].zh, Voice("cmn"))
    assert why is not None and "English" in why


def _zh_audio(corpus):
    texts, audio = {}, {}
    for split in ("train", "dev", "test"):
        dd = read_data_dir(corpus / split).select(lang="zh")
        for u in dd.utt_ids:
            texts[u], audio[u] = dd.text[u], dd.load_audio(u)
    return texts, audio


@requires_espeak
def test_corpus_mandarin_passes(tiny_corpus):
    texts, audio = _zh_audio(tiny_corpus)
    rep = check_mandarin(texts, audio, check_ipa=False)
    assert rep.problems == [], rep.problems
    assert rep.pearson_r > 0.8 and 0.15 < rep.sec_per_char < 0.35
    assert rep.min_active_fraction > 0.5


@requires_espeak
def test_english_spelled_and_silent_audio_fail(tiny_corpus):
    texts, _ = _zh_audio(tiny_corpus)
    texts = dict(list(texts.items())[:24])
    # what the plain `cmn` voice does with the same pinyin: spelled digits, too slow per char
    from espnet_codec_lm.data.espeak import zh_to_pinyin

    spelled = {u: synthesize(zh_to_pinyin(t), "en", Voice("cmn")) for u, t in texts.items()}
    rep = check_mandarin(texts, spelled, check_ipa=False)
    assert any("per character" in p for p in rep.problems), rep
    silent = {u: np.zeros(16000 * 3, dtype=np.float32) for u in texts}
    rep = check_mandarin(texts, silent, check_ipa=False)
    assert sum("silent" in p for p in rep.problems) == len(texts)


def test_active_fraction():
    x = np.zeros(16000, dtype=np.float32)
    x[:4000] = 0.5 * np.sin(np.arange(4000) / 5)
    assert abs(active_fraction(x) - 0.25) < 0.03
