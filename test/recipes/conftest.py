"""Fixtures of the recipe tests: fake corpus trees (built once per session) and recipe copies."""

from __future__ import annotations

from pathlib import Path

import pytest


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
