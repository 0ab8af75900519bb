"""Progress bars that behave in logs: tqdm on a terminal, periodic one-line updates otherwise."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from typing import TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")


def progress(
    iterable: Iterable[T] | None = None, desc: str = "", total: int | None = None, **kw
) -> tqdm:
    """A tqdm bar; disabled on non-zero ranks and when ``ESPNET_CODEC_LM_NO_PROGRESS`` is set.

    When stderr is not a terminal (a log file, CI) the bar refreshes at most every 30 s so logs stay
    readable.
    """
    disable = int(os.environ.get("RANK", "0")) != 0 or bool(
        os.environ.get("ESPNET_CODEC_LM_NO_PROGRESS")
    )
    mininterval = 0.5 if sys.stderr.isatty() else 30.0
    return tqdm(
        iterable,
        desc=desc,
        total=total,
        disable=disable,
        mininterval=mininterval,
        dynamic_ncols=True,
        **kw,
    )
