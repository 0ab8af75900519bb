"""RNG states as JSON (no pickle): Python, NumPy, torch CPU and CUDA generators."""

from __future__ import annotations

import numpy as np
import torch

from espnet_codec_lm.utils.seed import get_rng_state, set_rng_state


def rng_to_json(state: dict | None = None) -> dict:
    """:func:`utils.seed.get_rng_state` (or ``state``) as lists and numbers."""
    s = state or get_rng_state()
    version, internal, gauss = s["python"]
    name, keys, pos, has_gauss, cached = s["numpy"]
    out = {
        "python": [version, list(internal), gauss],
        "numpy": [name, keys.tolist(), int(pos), int(has_gauss), float(cached)],
        "torch": s["torch"].tolist(),
    }
    if "cuda" in s:
        out["cuda"] = [t.tolist() for t in s["cuda"]]
    return out


def rng_from_json(data: dict) -> dict:
    """Inverse of :func:`rng_to_json`."""
    version, internal, gauss = data["python"]
    name, keys, pos, has_gauss, cached = data["numpy"]
    state = {
        "python": (version, tuple(internal), gauss),
        "numpy": (name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached),
        "torch": torch.tensor(data["torch"], dtype=torch.uint8),
    }
    if "cuda" in data:
        state["cuda"] = [torch.tensor(t, dtype=torch.uint8) for t in data["cuda"]]
    return state


def restore_rng(data: dict) -> None:
    set_rng_state(rng_from_json(data))
