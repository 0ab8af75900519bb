"""Fixtures of the reliability suite: tiny models and data shared by the whole session."""

from __future__ import annotations

import pytest
from rel_helpers import CODEBOOK, make_tiny_codec

from espnet_codec_lm.testing.tiny_models import make_tiny_base_llm


@pytest.fixture(scope="session")
def tiny_base(tmp_path_factory):
    """A tiny tied Qwen2 base LLM directory (config, safetensors weights, HF tokenizer)."""
    return make_tiny_base_llm(tmp_path_factory.mktemp("rel_base"), seed=5, tie_word_embeddings=True)


@pytest.fixture(scope="session")
def lm_exp(tmp_path_factory, tiny_base):
    """An LM experiment: ``model/`` (tiny SpeechLM, 3 x 16 codes) and ``codec/`` beside it."""
    from espnet_codec_lm.testing.tiny_models import make_tiny_speech_lm

    exp = tmp_path_factory.mktemp("rel_exp") / "lm_sft"
    make_tiny_speech_lm(exp / "model", tiny_base, codebook_size=CODEBOOK)
    make_tiny_codec(exp / "codec")
    return exp


@pytest.fixture(scope="session")
def test_set(lm_exp, tmp_path_factory):
    """``(data_dir, codes.scp)``: 6 utterances of 3 speakers, coded by the tiny codec."""
    import kaldiio
    import numpy as np
    import torch

    from espnet_codec_lm.data.audio import load_audio
    from espnet_codec_lm.data.kaldi_io import read_table
    from espnet_codec_lm.decode.loading import load_codec_dir
    from espnet_codec_lm.testing.audio import make_data_dir

    root = tmp_path_factory.mktemp("rel_test_set")
    data = make_data_dir(
        root / "test", n_utts=6, n_speakers=3, seconds=[0.4, 0.5, 0.6, 0.4, 0.5, 0.6]
    )
    codec = load_codec_dir(lm_exp / "codec")
    cdir = root / "codes"
    cdir.mkdir()
    spec = f"ark,scp:{cdir / 'codes.ark'},{cdir / 'codes.scp'}"
    with kaldiio.WriteHelper(spec, write_function="numpy") as w:
        for utt, entry in sorted(read_table(data / "wav.scp").items()):
            wav = torch.from_numpy(load_audio(entry, utt_id=utt))
            w(utt, codec.encode(wav, n_q=3).T.numpy().astype(np.int16))
    return data, cdir / "codes.scp"
