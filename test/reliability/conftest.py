"""Fixtures of the reliability suite: tiny models and data shared by the whole session."""

from __future__ import annotations

import pytest

from espnet_codec_lm.testing.tiny_models import make_tiny_base_llm


@pytest.fixture(scope="session")
def tiny_base(tmp_path_factory):
    """A tiny tied Qwen2 base LLM directory (config, safetensors weights, HF tokenizer)."""
    return make_tiny_base_llm(tmp_path_factory.mktemp("rel_base"), seed=5, tie_word_embeddings=True)
