"""Every ``python -m espnet_codec_lm.bin.<verb> --help`` works and starts quickly."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

import espnet_codec_lm.bin as bin_pkg

ENTRY_POINTS = sorted(
    p.stem for p in Path(bin_pkg.__file__).parent.glob("*.py") if not p.stem.startswith("_")
)


@pytest.mark.parametrize("verb", ENTRY_POINTS)
def test_help(verb):
    start = time.perf_counter()
    res = subprocess.run(
        [sys.executable, "-m", f"espnet_codec_lm.bin.{verb}", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    elapsed = time.perf_counter() - start
    assert res.returncode == 0, res.stderr[-2000:]
    assert "usage" in res.stdout.lower()
    # The budget is 5 s on an idle machine; CI shares 2 cores with other tests, so allow slack.
    assert elapsed < 15, f"{verb} --help took {elapsed:.1f} s"
