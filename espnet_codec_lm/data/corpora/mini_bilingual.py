"""``mini_bilingual``: the synthetic English/Mandarin corpus (no ``src``; generated here)."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from pathlib import Path

from espnet_codec_lm.config import config_from_dict, parse_overrides, read_yaml, to_dict
from espnet_codec_lm.data.mini_corpus import SIZES, SPLITS, MiniCorpusConfig, generate

log = logging.getLogger(__name__)


def prepare_mini_bilingual(
    src: Path | None,
    out: Path,
    subsets: Sequence[str] | None = None,
    nj: int = 1,
    size: str = "default",
    seed: int | None = None,
    config: str | Path | None = None,
    overrides: Sequence[str] = (),
) -> dict:
    """Generate the corpus into ``out`` (``train``, ``dev``, ``test`` and ``text_pool/``).

    ``size`` picks a preset (``tiny``, ``default``, ``large``); ``config`` (a YAML of
    :class:`MiniCorpusConfig`) and ``key=value`` ``overrides`` change it; ``seed`` fixes every
    random choice. ``src`` is ignored. All splits are always generated (the sentence split is
    planned jointly), ``subsets`` only checks the names asked for.
    """
    if size not in SIZES:
        raise ValueError(f"mini_bilingual: unknown size '{size}' (known: {', '.join(SIZES)})")
    for s in subsets or ():
        if s not in SPLITS:
            raise ValueError(f"mini_bilingual: unknown subset '{s}' (known: {', '.join(SPLITS)})")
    # a YAML config replaces the preset; key=value overrides apply on top of either
    data = read_yaml(config) if config is not None else to_dict(SIZES[size])
    source = str(config) if config is not None else f"size={size}"
    for key, value in parse_overrides(overrides).items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    cfg = config_from_dict(MiniCorpusConfig, data, source + (" (+ overrides)" if overrides else ""))
    if seed is not None:
        cfg = dataclasses.replace(cfg, seed=seed)
    return generate(out, cfg, nj=nj)
