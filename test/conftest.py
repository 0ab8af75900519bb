"""Shared fixtures. Tests make their own data; nothing is downloaded."""

from __future__ import annotations

import os

import pytest
import torch

os.environ.setdefault("ESPNET_CODEC_LM_NO_PROGRESS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "2")))


@pytest.fixture
def rng():
    """A NumPy generator with a fixed seed."""
    import numpy as np

    return np.random.default_rng(0)
