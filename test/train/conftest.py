"""Fixtures of the trainer tests: a tiny tied Qwen2 base LLM and tiny training configs."""

from __future__ import annotations

import pytest

from espnet_codec_lm.testing.tiny_models import TINY_CORPUS, make_tiny_base_llm


@pytest.fixture(scope="session")
def tiny_base(tmp_path_factory):
    """A tiny Qwen2 base with tied embeddings (like Qwen1.5-0.5B), saved with save_pretrained."""
    return make_tiny_base_llm(tmp_path_factory.mktemp("base"), seed=3, tie_word_embeddings=True)


@pytest.fixture(scope="session")
def heldout(tmp_path_factory):
    """Held-out text for the perplexity monitor."""
    p = tmp_path_factory.mktemp("text") / "heldout.txt"
    p.write_text("\n".join(TINY_CORPUS) + "\n", encoding="utf-8")
    return p
