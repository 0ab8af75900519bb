"""Fixtures of the DualSpeechLM tests (helpers and constants: ``dual_helpers``)."""

from __future__ import annotations

import pytest
from dual_helpers import make_dual_corpus


@pytest.fixture(scope="session")
def dual_corpus(tmp_path_factory):
    """A USToken corpus and its acoustic codes (``dual_helpers.make_dual_corpus``)."""
    return make_dual_corpus(tmp_path_factory.mktemp("dual"))
