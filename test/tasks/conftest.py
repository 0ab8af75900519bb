"""Shared fixtures: one tiny synthetic corpus (real on-disk layout, random codes) per session."""

from __future__ import annotations

import pytest

from espnet_codec_lm.tasks.dataset import load_corpora
from espnet_codec_lm.tasks.prompts import PromptBank, TokenizedPrompts
from espnet_codec_lm.tasks.sequence import BuildConfig, SequenceBuilder
from espnet_codec_lm.testing.synthetic import make_synthetic_corpus


@pytest.fixture(scope="session")
def syn(tmp_path_factory):
    """Synthetic corpus: 2 x 3 speakers x 8 utterances, text pools, MT pairs, BPE tokenizer."""
    return make_synthetic_corpus(tmp_path_factory.mktemp("syn"))


@pytest.fixture(scope="session")
def corpora(syn):
    return load_corpora(syn.data_config(), syn.layout, syn.tokenizer)


@pytest.fixture(scope="session")
def bank():
    return PromptBank.load()


@pytest.fixture
def make_builder(syn, bank):
    def make(stage: str = "cpt", **cfg) -> SequenceBuilder:
        prompts = TokenizedPrompts(bank, syn.tokenizer)
        return SequenceBuilder(syn.layout, syn.tokenizer, prompts, stage, BuildConfig(**cfg))

    return make
