"""Fixtures of the USTokenizer tests: a tiny random Qwen2 text LLM, a tiny random Whisper and
a data dir of synthetic speech, written once per session (they are only read)."""

from __future__ import annotations

from pathlib import Path

import pytest
from ustok_testutil import make_tiny_whisper

from espnet_codec_lm.testing.audio import make_data_dir
from espnet_codec_lm.testing.tiny_models import make_tiny_base_llm


@pytest.fixture(scope="session")
def text_llm(tmp_path_factory) -> Path:
    """A random tiny ``Qwen2ForCausalLM`` + its tokenizer (hidden 32)."""
    return make_tiny_base_llm(tmp_path_factory.mktemp("llm") / "qwen2", eos_token_id=0)


@pytest.fixture(scope="session")
def whisper_dir(tmp_path_factory) -> Path:
    return make_tiny_whisper(tmp_path_factory.mktemp("whisper") / "whisper")


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory) -> Path:
    """Four utterances of 1.0, 0.7, 1.2 and 0.5 s with transcripts."""
    return make_data_dir(tmp_path_factory.mktemp("data") / "d", seconds=[1.0, 0.7, 1.2, 0.5])
