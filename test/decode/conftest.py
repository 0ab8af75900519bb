"""Fixtures of the decoding tests: a tiny LM experiment (checkpoint + codec link), a tiny codec,
and a test set with codes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from espnet_codec_lm.lm.vocab import VocabLayout

CODEBOOK = 16


def _tiny_codec(directory):
    from espnet_codec_lm.testing.tiny_models import make_tiny_codec

    return make_tiny_codec(directory, codebook_size=CODEBOOK, seed=0)


@pytest.fixture(scope="session")
def lm_exp(tmp_path_factory):
    """``exp/`` with ``model/`` (a tiny SpeechLM checkpoint, 3 x 16 codes) and ``codec/``."""
    from espnet_codec_lm.lm.build import build_speech_lm
    from espnet_codec_lm.lm.config import SpeechLMConfig
    from espnet_codec_lm.testing.tiny_models import make_tiny_base_llm

    root = tmp_path_factory.mktemp("decode_lm")
    base = make_tiny_base_llm(root / "base", seed=3, max_position_embeddings=1024)
    torch.manual_seed(0)
    cfg = SpeechLMConfig(init="text_llm", base_llm=str(base), codebook_size=CODEBOOK)
    model, tok = build_speech_lm(cfg)
    exp = root / "exp"
    model.save_pretrained(exp / "model", tokenizer=tok)
    _tiny_codec(exp / "codec")
    return exp


@pytest.fixture(scope="session")
def tiny_lm(lm_exp):
    """``(model, tokenizer)`` of :func:`lm_exp`, loaded the way decoding loads it."""
    from espnet_codec_lm.decode.loading import load_lm

    model, tok, _ = load_lm(lm_exp)
    return model, tok


@pytest.fixture(scope="session")
def test_set(lm_exp, tmp_path_factory):
    """``(data_dir, codes.scp)``: 6 English utterances of 3 speakers (0.4-0.8 s), codes from the
    tiny codec, as the tokenize stage writes them."""
    import kaldiio

    from espnet_codec_lm.decode.loading import load_codec_dir
    from espnet_codec_lm.testing.audio import make_data_dir

    root = tmp_path_factory.mktemp("decode_data")
    data = make_data_dir(
        root / "test", n_utts=6, n_speakers=3, seconds=[0.4, 0.5, 0.6, 0.7, 0.8, 0.4]
    )
    codec = load_codec_dir(lm_exp / "codec")
    from espnet_codec_lm.data.audio import load_audio
    from espnet_codec_lm.data.kaldi_io import read_table

    cdir = root / "codes"
    cdir.mkdir()
    spec = f"ark,scp:{cdir / 'codes.ark'},{cdir / 'codes.scp'}"
    with kaldiio.WriteHelper(spec, write_function="numpy") as w:
        for utt, entry in sorted(read_table(data / "wav.scp").items()):
            wav = torch.from_numpy(load_audio(entry, utt_id=utt))
            w(utt, codec.encode(wav, n_q=3).T.numpy().astype(np.int16))
    return data, cdir / "codes.scp"


@pytest.fixture
def small_layout():
    """Text ids 0..9 (12 rows), 2 streams of 4 codes, 4 boundary tokens: 24 ids."""
    return VocabLayout(text_vocab_size=10, text_rows=12, num_streams=2, codebook_size=4)
