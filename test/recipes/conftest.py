"""Fixtures of the recipe tests: fake corpus trees (built once per session) and recipe copies."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
EGS = REPO / "egs2"
TEMPLATE = EGS / "TEMPLATE" / "codec_lm1"


def _builders():
    from espnet_codec_lm.testing import fake_corpora as f
    from espnet_codec_lm.testing import fake_cpt_corpora as c

    all7 = (
        "train-clean-100",
        "train-clean-360",
        "train-other-500",
        "dev-clean",
        "dev-other",
        "test-clean",
        "test-other",
    )
    return {
        # every subset the recipes combine, one reader / speaker each to stay small
        "librispeech": lambda root, m: f.make_fake_librispeech(root, all7, readers=1, maker=m),
        "aishell2": lambda root, m: f.make_fake_aishell2(root, maker=m),
        "libritts": lambda root, m: f.make_fake_libritts(
            root, all7[:4] + ("test-clean",), speakers=1, maker=m
        ),
        "covost2": lambda root, m: f.make_fake_covost2(root, maker=m),
        "gigas2s": lambda root, m: f.make_fake_gigas2s(root, segments=2, maker=m),
        "aishell1": lambda root, m: c.make_fake_aishell1(root, maker=m),
        "aishell3": lambda root, m: c.make_fake_aishell3(root, maker=m),
        "wenetspeech": lambda root, m: c.make_fake_wenetspeech(root, maker=m),
        "mls": lambda root, m: c.make_fake_mls(root, maker=m),
        "tedlium3": lambda root, m: c.make_fake_tedlium3(root, maker=m),
    }


class FakeTrees:
    """``trees[name]`` -> the root of that corpus's fake tree, built on first use."""

    def __init__(self, base: Path) -> None:
        from espnet_codec_lm.testing.fake_corpora import SpeechMaker

        self.base = base
        self.maker = SpeechMaker(seed=0)
        self._roots: dict[str, Path] = {}
        self._builders = _builders()

    def __getitem__(self, name: str) -> Path:
        if name not in self._roots:
            root = self.base / name
            self._builders[name](root, self.maker)
            self._roots[name] = root
        return self._roots[name]


@pytest.fixture(scope="session")
def fake_trees(tmp_path_factory) -> FakeTrees:
    """Fake corpora in their published layouts (espeak-ng speech when installed)."""
    return FakeTrees(tmp_path_factory.mktemp("fake_corpora"))


def make_recipe_copy(name: str, dest: Path) -> Path:
    """A runnable copy of ``egs2/<name>/codec_lm1`` at ``dest``: made by ``setup.sh`` (so the
    template parts are links into this repository), then the recipe's own files copied in."""
    src = EGS / name / "codec_lm1"
    subprocess.run([str(TEMPLATE / "setup.sh"), str(dest)], check=True, capture_output=True)
    for path in src.rglob("*"):
        rel = path.relative_to(src)
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
