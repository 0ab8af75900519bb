"""Pickle-free checkpoint files: tensors in safetensors, everything else in JSON.

Shared by the LM trainer (``train/checkpoint.py``, which adds the distributed layout), the codec
trainer and the USTokenizer trainer: nothing here is unpickled on load, so a checkpoint from elsewhere can be
read without running code, and every failure is one line naming the file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file


class CheckpointError(ValueError):
    """A checkpoint is missing, incomplete or does not fit this run (one-line message)."""


def read_json(path: Path) -> dict:
    """A JSON object from ``path``; missing, malformed or not an object: CheckpointError."""
    if not path.is_file():
        raise CheckpointError(f"{path}: missing")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{path}: expected a JSON object")
    return data


def read_tensors(path: Path) -> dict[str, torch.Tensor]:
    """safetensors only: a pickle or a torn file is refused, never executed."""
    if not path.is_file():
        raise CheckpointError(f"{path}: missing")
    try:
        return load_file(str(path))
    except Exception as e:  # SafetensorError is no ValueError; keep one line
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise CheckpointError(f"{path}: not a valid safetensors file ({msg})") from None


def fsync_dir(path: Path) -> None:
    """Make a rename inside ``path`` durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_json(path: Path, data: dict) -> None:
    """Write ``data`` as JSON and fsync it (the caller renames the enclosing directory)."""
    with open(path, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=1)
        f.flush()
        os.fsync(f.fileno())


def save_tensors(path: Path, tensors: dict[str, torch.Tensor]) -> None:
    """safetensors refuses tensors sharing memory (tied weights): give each its own copy."""
    seen: set[int] = set()
    out = {}
    for k, v in tensors.items():
        v = v.detach().cpu().contiguous()  # a GPU trainer's tensors too
        if v.numel() and v.data_ptr() in seen:
            v = v.clone()
        seen.add(v.data_ptr())
        out[k] = v
    save_file(out, str(path))
    with open(path, "rb+") as f:
        os.fsync(f.fileno())


def flatten_optim(osd: dict) -> tuple[dict[str, torch.Tensor], dict]:
    """A full optimiser state dict (keyed by parameter names) -> safetensors tensors
    (``<param>/<key>``) + JSON (param groups, non-tensor per-parameter entries)."""
    tensors: dict[str, torch.Tensor] = {}
    other: dict[str, dict] = {}
    for name, entries in osd.get("state", {}).items():
        for key, value in entries.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{name}/{key}"] = value
            else:
                other.setdefault(name, {})[key] = value
    groups = [
        {k: (list(v) if isinstance(v, tuple) else v) for k, v in g.items()}
        for g in osd.get("param_groups", [])
    ]
    return tensors, {"param_groups": groups, "state": other}


def unflatten_optim(tensors: dict[str, torch.Tensor], meta: dict) -> dict:
    """Inverse of :func:`flatten_optim`."""
    state: dict[str, dict] = {k: dict(v) for k, v in meta.get("state", {}).items()}
    for flat, value in tensors.items():
        name, key = flat.rsplit("/", 1)
        state.setdefault(name, {})[key] = value
    return {"state": state, "param_groups": meta["param_groups"]}


def save_optimizer(directory: Path, stem: str, optimizer, names: list[str]) -> None:
    """``<stem>.safetensors`` + ``<stem>.json``: an optimiser's state keyed by parameter names
    (``names[i]`` for the optimiser's parameter ``i``), so that it reads back by name."""
    osd = optimizer.state_dict()
    named = {
        "state": {names[i]: v for i, v in osd["state"].items()},
        "param_groups": [
            {**g, "params": [names[i] for i in g["params"]]} for g in osd["param_groups"]
        ],
    }
    tensors, meta = flatten_optim(named)
    save_tensors(directory / f"{stem}.safetensors", tensors)
    write_json(directory / f"{stem}.json", meta)


def load_optimizer(directory: Path, stem: str, optimizer, names: list[str]) -> None:
    """Inverse of :func:`save_optimizer` (a parameter name it does not know: CheckpointError)."""
    osd = unflatten_optim(
        read_tensors(directory / f"{stem}.safetensors"), read_json(directory / f"{stem}.json")
    )
    index = {n: i for i, n in enumerate(names)}
    try:
        optimizer.load_state_dict(
            {
                "state": {index[n]: v for n, v in osd["state"].items()},
                "param_groups": [
                    {**g, "params": [index[n] for n in g["params"]]} for g in osd["param_groups"]
                ],
            }
        )
    except KeyError as e:
        raise CheckpointError(f"{directory / stem}.json: unknown parameter {e}") from None
