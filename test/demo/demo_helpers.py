"""Helpers of the web demo's tests (see conftest.py): the shipped pack, skip-or-fail."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACK = ROOT / "egs2" / "mini_bilingual" / "codec_lm1" / "pretrained" / "speech_text_cpt"


def require(ok: bool, reason: str) -> None:
    """Skip with ``reason`` unless ``ok``; under ``make test`` fail instead."""
    if ok:
        return
    if os.environ.get("ESPNET_CODEC_LM_REQUIRE_DEMO") == "1":
        pytest.fail(f"{reason} (make test needs it: tools/install.sh installs it)")
    pytest.skip(reason)


def require_modules(*names: str) -> None:
    missing = [n for n in names if importlib.util.find_spec(n) is None]
    require(not missing, f"the [demo] extra is not installed (no {', '.join(missing)})")
