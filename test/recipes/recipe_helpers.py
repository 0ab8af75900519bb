"""Helpers of the recipe tests (a uniquely named module: every test folder is on sys.path, so a
plain ``conftest`` import could pick up another area's)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
EGS = REPO / "egs2"
TEMPLATE = EGS / "TEMPLATE" / "codec_lm1"
OUTPUT_DIRS = ("data", "dump", "exp", "downloads")  # git-ignored in every recipe


def make_recipe_copy(name: str, dest: Path) -> Path:
    """A runnable copy of ``egs2/<name>/codec_lm1`` at ``dest``: made by ``setup.sh`` (so the
    template parts are links into this repository), then the recipe's own files copied in."""
    src = EGS / name / "codec_lm1"
    subprocess.run([str(TEMPLATE / "setup.sh"), str(dest)], check=True, capture_output=True)
    for path in src.rglob("*"):
        rel = path.relative_to(src)
        if rel.parts[0] in OUTPUT_DIRS:  # a run's outputs in the source tree are not the recipe
            continue
        if path.is_symlink() or any(p.is_symlink() for p in (src / rel).parents if p != src):
            continue
        if path.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(path, dest / rel)
    return dest


def run_sh(cmd: list[str], cwd: Path, env: dict | None = None, timeout: int = 300):
    """Run a recipe script; returns the CompletedProcess (stdout+stderr in ``.stdout``)."""
    full_env = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    return subprocess.run(
        cmd,
        cwd=cwd,
        env=full_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
    )
