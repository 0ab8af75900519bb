"""Helpers of the reliability suite (a uniquely named module: pytest puts every test folder on
``sys.path``, so a plain ``helpers.py`` could collide with another area's).

Every bad-input case follows one pattern::

    before = tree_hashes(tmp_path)              # inputs and outputs already written
    res = run_cli("validate_data_dir", str(d))  # or call_main(...) for cheap entry points
    line = assert_one_line_error(res, "wav.scp", "spk0-utt000")
    assert tree_hashes(tmp_path) == before       # nothing already written was touched
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import io
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from espnet_codec_lm.testing.tiny_models import make_tiny_codec  # noqa: F401 (re-exported)

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Result:
    """What a user sees of one entry-point run."""

    rc: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err


def cli_env(**extra: str) -> dict:
    """One thread, no progress bars, offline Hugging Face, the repository on the path."""
    env = dict(os.environ)
    env.update(
        OMP_NUM_THREADS="1",
        ESPNET_CODEC_LM_NO_PROGRESS="1",
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        PYTHONPATH=str(REPO),
    )
    env.update(extra)
    return env


def run_cli(verb: str, *args: str, timeout: float = 180, cwd: Path | None = None) -> Result:
    """``python -m espnet_codec_lm.bin.<verb> args...`` in a fresh interpreter."""
    cmd = [sys.executable, "-m", f"espnet_codec_lm.bin.{verb}", *map(str, args)]
    p = subprocess.run(
        cmd, env=cli_env(), capture_output=True, text=True, timeout=timeout, cwd=cwd or REPO
    )
    return Result(p.returncode, p.stdout, p.stderr)


def call_main(verb: str, *args: str) -> Result:
    """The same entry point's ``main(argv)`` in this process (cheap stages). An exception that
    escapes ``main`` is what a user would see as a traceback: it fails the test."""
    mod = importlib.import_module(f"espnet_codec_lm.bin.{verb}")
    out, err = io.StringIO(), io.StringIO()
    import logging

    root = logging.getLogger()
    saved = list(root.handlers), root.level
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                rc = mod.main([str(a) for a in args])
            except SystemExit as e:  # argparse
                rc = e.code if isinstance(e.code, int) else 1
            except Exception as e:  # noqa: BLE001 - the point is to report it
                import traceback

                tb = traceback.format_exc()
                raise AssertionError(
                    f"{verb}: traceback instead of a one-line error: {type(e).__name__}: {e}\n{tb}"
                ) from None
            finally:
                for h in root.handlers:  # setup_logging bound a handler to the redirected stderr
                    with contextlib.suppress(Exception):
                        h.flush()
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
    return Result(int(rc or 0), out.getvalue(), err.getvalue())


def assert_one_line_error(res: Result, *needles: str) -> str:
    """Non-zero exit, no traceback, and exactly one output line containing every needle
    (the file / line / utterance the user must look at). Returns that line."""
    assert res.rc != 0, f"exit status 0 for bad input:\n{res.text[-2000:]}"
    assert "Traceback" not in res.text, (
        f"traceback instead of a one-line error:\n{res.text[-3000:]}"
    )
    hits = [ln for ln in res.text.splitlines() if all(n in ln for n in needles)]
    assert len(hits) == 1, f"expected one line with {needles}, got {hits}:\n{res.text[-2000:]}"
    return hits[0]


def tree_hashes(*roots: Path, skip: tuple[str, ...] = ()) -> dict[str, str]:
    """sha256 of every regular file under ``roots`` (paths relative to each root's parent);
    names containing any of ``skip`` are left out (e.g. logs a rerun may append to)."""
    out: dict[str, str] = {}
    for root in roots:
        root = Path(root)
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for p in files:
            rel = str(p.relative_to(root.parent))
            if any(s in rel for s in skip):
                continue
            out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def assert_unchanged(before: dict[str, str], after: dict[str, str]) -> None:
    """Same files with the same bytes (new files are allowed only where the caller says)."""
    changed = sorted(k for k in before if after.get(k) != before[k])
    removed = sorted(set(before) - set(after))
    assert not changed and not removed, f"changed: {changed}, removed: {removed}"


def replace_line(path: Path, key: str, new: bytes) -> None:
    """Replace the line of ``key`` in a Kaldi table with the raw bytes ``new``."""
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(new if ln.split()[0].decode() == key else ln for ln in lines))


def write_yaml(path: Path, data) -> Path:
    import yaml

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


CODEBOOK = 16


def tiny_codec_train_config(path: Path, data: Path, **top) -> Path:
    """A one-step codec training config (tiny spectral/iSTFT model, no GAN) over ``data``."""
    return write_yaml(
        path,
        {
            "model": {
                "hop_length": 320,
                "latent_dim": 16,
                "encoder": {"type": "spectral", "n_fft": 640, "hidden": 16, "layers": 1},
                "decoder": {"type": "istft", "n_fft": 1280, "hidden": 16, "layers": 1},
                "quantizer": {"num_codebooks": 2, "codebook_size": 8, "kmeans_iters": 1},
            },
            "loss": {"adv_weight": 0.0, "feat_weight": 0.0},
            "data": {"train": str(data), "segment_samples": 3200, "batch_size": 2},
            "max_steps": 1,
            **top,
        },
    )


class _Payload:
    """Pickles as ``open(marker, "w")``: unpickling it without restrictions creates the file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def plant(path, marker):
    """Write a malicious 'checkpoint' (a dict of a tensor and the payload) to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    import torch

    torch.save({"weight": torch.zeros(2), "x": _Payload(marker)}, path)
    return path
