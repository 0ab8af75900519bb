"""Atomic writes and RNG state capture."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from espnet_codec_lm.utils.fileio import atomic_open, atomic_path, atomic_write_text
from espnet_codec_lm.utils.seed import get_rng_state, set_rng_state, set_seed


def test_atomic_write_replaces_whole_file(tmp_path):
    p = tmp_path / "sub" / "out.txt"
    atomic_write_text(p, "first\n")
    atomic_write_text(p, "second\n")
    assert p.read_text() == "second\n"
    assert [x.name for x in p.parent.iterdir()] == ["out.txt"]  # no temp files left


def test_failed_write_keeps_old_content(tmp_path):
    p = tmp_path / "out.txt"
    atomic_write_text(p, "keep me\n")
    with pytest.raises(RuntimeError):
        with atomic_open(p) as f:
            f.write("half")
            raise RuntimeError("crash mid-write")
    assert p.read_text() == "keep me\n"
    assert [x.name for x in tmp_path.iterdir()] == ["out.txt"]


def test_atomic_path_for_libraries(tmp_path):
    p = tmp_path / "w.pt"
    with atomic_path(p) as tmp:
        assert tmp != p and tmp.parent == p.parent
        torch.save({"a": torch.ones(2)}, tmp)
    assert torch.load(p, weights_only=True)["a"].sum() == 2


def test_rng_state_round_trip():
    set_seed(123)
    state = get_rng_state()
    a = (random.random(), np.random.rand(), torch.rand(1).item())
    set_rng_state(state)
    b = (random.random(), np.random.rand(), torch.rand(1).item())
    assert a == b
