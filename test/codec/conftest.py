"""Fixtures of the codec tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from codec_testutil import write_data_dir


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """A data dir of four short synthetic utterances."""
    return write_data_dir(tmp_path / "data")
