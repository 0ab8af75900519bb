"""One log format for every entry point: ``2026-01-01 12:00:00 [codec_train] INFO message``."""

from __future__ import annotations

import logging
import os
import sys

FORMAT = "%(asctime)s [%(name)s] %(levelname)s %(message)s"


def setup_logging(name: str, level: str | int | None = None) -> logging.Logger:
    """Configure the root logger once (stderr) and return the logger for ``name``.

    ``ESPNET_CODEC_LM_LOG_LEVEL`` overrides the level; under torchrun only rank 0 logs INFO.
    """
    level = level or os.environ.get("ESPNET_CODEC_LM_LOG_LEVEL", "INFO")
    rank = int(os.environ.get("RANK", "0"))
    if rank != 0 and level == "INFO":
        level = "WARNING"
    logging.basicConfig(
        level=level, format=FORMAT, datefmt="%Y-%m-%d %H:%M:%S", stream=sys.stderr, force=True
    )
    return logging.getLogger(name)
