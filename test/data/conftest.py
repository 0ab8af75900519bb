"""Fixtures of the data tests: one tiny mini corpus per session (espeak-ng, a few seconds)."""

from __future__ import annotations

import pytest

from espnet_codec_lm.data.espeak import espeak_available


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory):
    """``--size tiny --seed 0`` generated with two jobs."""
    if not espeak_available():
        pytest.skip("espeak-ng is not installed")
    from espnet_codec_lm.testing.audio import make_tiny_corpus

    return make_tiny_corpus(tmp_path_factory.mktemp("mini") / "corpus", seed=0, nj=2)
