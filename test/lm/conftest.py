"""Fixtures of the LM tests: tiny random Qwen2 base models saved with save_pretrained."""

from __future__ import annotations

import pytest

from espnet_codec_lm.testing.tiny_models import make_tiny_base_llm


@pytest.fixture(scope="session")
def tiny_base(tmp_path_factory):
    """An untied tiny Qwen2 base LLM directory (weights, config, HF tokenizer)."""
    return make_tiny_base_llm(tmp_path_factory.mktemp("base_untied"), seed=1)


@pytest.fixture(scope="session")
def tiny_base_tied(tmp_path_factory):
    """A tiny Qwen2 base with tied input/output embeddings (as Qwen1.5-0.5B's config says)."""
    return make_tiny_base_llm(
        tmp_path_factory.mktemp("base_tied"), seed=2, tie_word_embeddings=True
    )
