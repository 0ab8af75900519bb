"""TextTokenizer: both kinds round-trip English and Mandarin, save/load, clear errors."""

from __future__ import annotations

import pytest

from espnet_codec_lm.lm.tokenizer import (
    HFTextTokenizer,
    SentencePieceTokenizer,
    TokenizerError,
    has_tokenizer,
    load_text_tokenizer,
    train_sentencepiece,
)
from espnet_codec_lm.testing.tiny_models import make_tiny_hf_tokenizer, make_tiny_spm_tokenizer

SAMPLES = [
    "the cat sat on the mat.",
    "The  Cat, sat!  on a zebra\tmat ",  # case, repeated spaces, tab, trailing space
    "今天天气很好，我们去公园散步吧。",
    "鑫淼 unseen characters ９ and 12345 digits",  # characters never seen in training
    "mixed 中英文 text: 你好 world！",
]


@pytest.fixture(scope="module", params=["huggingface", "sentencepiece"])
def tokenizer(request, tmp_path_factory):
    d = tmp_path_factory.mktemp(request.param)
    if request.param == "huggingface":
        return make_tiny_hf_tokenizer(d)
    return make_tiny_spm_tokenizer(d)


@pytest.mark.parametrize("text", SAMPLES)
def test_round_trip(tokenizer, text):
    ids = tokenizer.encode(text)
    assert ids and all(isinstance(i, int) for i in ids)
    assert all(0 <= i < tokenizer.vocab_size for i in ids)
    assert tokenizer.decode(ids) == text


def test_bpe_merges_frequent_words(tokenizer):
    # a trained BPE needs fewer tokens than characters for in-domain text
    text = "the cat sat on the mat. 今天天气很好"
    assert len(tokenizer.encode(text)) < len(text)


def test_save_load_same_ids(tokenizer, tmp_path):
    tokenizer.save(tmp_path / "tok")
    again = load_text_tokenizer(tmp_path / "tok")
    assert type(again) is type(tokenizer)
    assert again.vocab_size == tokenizer.vocab_size
    for text in SAMPLES:
        assert again.encode(text) == tokenizer.encode(text)
    assert has_tokenizer(tmp_path / "tok")


def test_kinds_and_sizes(tmp_path):
    hf = make_tiny_hf_tokenizer(tmp_path / "hf", vocab_size=300)
    assert isinstance(hf, HFTextTokenizer) and hf.vocab_size == 300
    # a plain HF directory (no text_tokenizer.json) is recognised too
    assert isinstance(load_text_tokenizer(tmp_path / "hf"), HFTextTokenizer)
    sp = make_tiny_spm_tokenizer(tmp_path / "sp", vocab_size=420)
    assert isinstance(sp, SentencePieceTokenizer) and sp.vocab_size == 420
    # the bare .model file loads as well
    assert load_text_tokenizer(tmp_path / "sp" / "spm.model").encode("猫") == sp.encode("猫")


def test_train_from_file_is_deterministic(tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(["hello world", "你好世界", "good morning"] * 30) + "\n")
    a = train_sentencepiece(corpus, tmp_path / "a", vocab_size=280)
    b = train_sentencepiece(corpus, tmp_path / "b", vocab_size=280)
    # same pieces in the same order (the files differ only in the temporary paths they record)
    assert [a.sp.id_to_piece(i) for i in range(a.vocab_size)] == [
        b.sp.id_to_piece(i) for i in range(b.vocab_size)
    ]
    assert a.encode("hello 世界") == b.encode("hello 世界")


def test_errors_name_the_path(tmp_path):
    with pytest.raises(TokenizerError, match="nowhere"):
        load_text_tokenizer(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(TokenizerError, match="no tokenizer here"):
        load_text_tokenizer(tmp_path / "empty")
    with pytest.raises(TokenizerError, match="corpus.txt: corpus file not found"):
        train_sentencepiece(tmp_path / "corpus.txt", tmp_path / "x", vocab_size=100)
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "text_tokenizer.json").write_text('{"kind": "morse"}')
    with pytest.raises(TokenizerError, match="unknown tokenizer kind 'morse'"):
        load_text_tokenizer(bad)


def test_cjk_chars_are_pieces_of_their_own(tmp_path):
    """cjk_chars: BPE never merges CJK characters (plain BPE learns the repeated phrase)."""
    corpus = ["我们今天去公园散步。", "他们今天去公园散步吗？", "我们明天去学校。"] * 50
    corpus += ["we go to the park today.", "they go to school tomorrow."] * 50
    plain = train_sentencepiece(corpus, tmp_path / "plain", vocab_size=400)
    chars = train_sentencepiece(corpus, tmp_path / "chars", vocab_size=400, cjk_chars=True)
    text = "我们今天去公园散步。"

    def pieces(tok):
        return [tok.sp.id_to_piece(i).lstrip("▁") for i in tok.encode(text)]

    assert any(len(p) > 1 for p in pieces(plain))  # phrases
    assert [p for p in pieces(chars) if p] == list(text)
    # English still merges into words; both round-trip, unseen characters via bytes
    assert "▁park" in [chars.sp.id_to_piece(i) for i in chars.encode(" we go to the park")]
    for s in (text, "鑫淼 mixed 中英文 text", "we go to the park today."):
        assert chars.decode(chars.encode(s)) == s
    with pytest.raises(TokenizerError, match="CJK characters"):
        train_sentencepiece(corpus, tmp_path / "small", vocab_size=270, cjk_chars=True)
