"""The device a ``device: auto`` setting means on this machine."""

from __future__ import annotations


def resolve_device(device: str) -> str:
    """``auto`` -> ``cuda`` when a GPU is visible, else ``cpu``; anything else as given."""
    if device != "auto":
        return device
    import torch  # lazy: config readers call this without needing torch otherwise

    return "cuda" if torch.cuda.is_available() else "cpu"
