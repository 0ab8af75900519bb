"""Normalisers, WER/CER (jiwer) and BLEU (sacrebleu) against hand-computed values."""

from __future__ import annotations

import math

import pytest

from espnet_codec_lm.metrics.normalize import (
    TextNormalizer,
    is_char_lang,
    load_spelling_mapping,
    normalize_mandarin,
)
from espnet_codec_lm.metrics.text import bleu, bleu_tokenizer, error_rate, error_rate_for_lang


@pytest.fixture(scope="module")
def norm():
    return TextNormalizer({"colour": "color"}, "normalizer.json")


def test_english_normaliser_whisper_rules(norm):
    assert norm("Hello, World!", "en") == "hello world"
    assert norm("Twenty-five apples.", "en") == "25 apples"  # spelled numbers become digits
    assert norm("Mr. Smith", "en") == "mister smith"  # abbreviations expanded
    assert norm("It's [noise] fine, um.", "en") == "it is fine"  # brackets and fillers dropped
    assert norm("The colour", "en") == "the color"  # British -> American from the mapping
    assert TextNormalizer()("The colour", "en") == "the colour"  # no mapping: unchanged


def test_mandarin_normaliser():
    assert normalize_mandarin("你好，世界！") == "你好世界"
    assert normalize_mandarin("這個 東西。") == "这个东西"  # traditional -> simplified
    assert normalize_mandarin("ＡＢＣ １２３") == "abc123"  # full width -> ASCII, lower case
    assert normalize_mandarin("這個", to_simplified=False) == "這個"
    assert is_char_lang("zh") and not is_char_lang("en")


def test_other_language_uses_basic_normaliser(norm):
    assert norm("Bonjour, le Monde!", "fr") == "bonjour le monde"


def test_spelling_mapping_file(tmp_path):
    f = tmp_path / "normalizer.json"
    f.write_text('{"colour": "color"}')
    assert load_spelling_mapping(f) == {"colour": "color"}
    f.write_text("[1, 2]")
    with pytest.raises(ValueError, match="JSON object"):
        load_spelling_mapping(f)


def test_wer_hand_computed():
    # utt 1: "sat"->"sit" (S) and one "the" deleted (D): 2 errors / 6 words
    # utt 2: "there" inserted (I): 1 error / 2 words; corpus: 3 / 8 = 37.5 %
    refs = ["the cat sat on the mat", "hello world"]
    hyps = ["the cat sit on mat", "hello there world"]
    er = error_rate(refs, hyps, "word")
    assert er.rate == pytest.approx(37.5)
    assert (er.substitutions, er.deletions, er.insertions, er.ref_len) == (1, 1, 1, 8)
    assert er.per_utt[0].rate == pytest.approx(100 * 2 / 6)
    assert er.per_utt[1].errors == 1 and er.name == "wer"


def test_cer_hand_computed():
    # "气"->"汽" (S), "很" deleted (D): 2 / 6 characters
    er = error_rate_for_lang(["今天天气很好"], ["今天天汽好"], "zh")
    assert er.name == "cer"
    assert er.rate == pytest.approx(100 * 2 / 6)


def test_error_rate_empty_reference_and_hypothesis():
    er = error_rate(["a b", ""], ["", "x y"], "word")
    # 2 deletions + 2 insertions against an empty reference, over 2 reference words
    assert er.rate == pytest.approx(200.0)
    assert math.isinf(er.per_utt[1].rate)
    with pytest.raises(ValueError, match="every reference is empty"):
        error_rate([""], ["a"], "word")
    with pytest.raises(ValueError, match="2 references but 1"):
        error_rate(["a", "b"], ["a"])


def test_bleu_13a_hand_computed():
    # precisions 5/6, 3/5, 2/4, 1/3, brevity penalty 1
    b = bleu(["the cat sat on a mat"], ["the cat sat on the mat"], "en")
    expected = 100 * (5 / 6 * 3 / 5 * 2 / 4 * 1 / 3) ** 0.25
    assert b.score == pytest.approx(expected, abs=1e-6)
    assert "tok:13a" in b.signature


def test_bleu_zh_tokeniser_hand_computed():
    # per-character n-grams all match; brevity penalty exp(1 - 7/4)
    b = bleu(["我爱北京"], ["我爱北京天安门"], "zh")
    assert b.score == pytest.approx(100 * math.exp(1 - 7 / 4), abs=1e-6)
    assert "tok:zh" in b.signature
    # 13a sees one "word" that does not match: the tokeniser choice matters
    assert bleu(["我爱北京"], ["我爱北京天安门"], "en").score == 0.0
    assert bleu_tokenizer("zh") == "zh" and bleu_tokenizer("en") == "13a"
