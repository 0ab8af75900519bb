"""Corpus preparers: one ``prepare_<corpus>(src, out, subsets, nj, **options)`` per corpus.

Each writes Kaldi data directories (one per subset) under ``out`` from the corpus as it lies on
disk under ``src``. :data:`CORPORA` maps a corpus name to ``"module:function"`` so that the
entry point imports only the preparer it runs (``--help`` stays fast); add a corpus by writing
``espnet_codec_lm/data/corpora/<corpus>.py`` and one line here.

Preparer contract:
- ``src``: the corpus root (``None`` for generated corpora), ``out``: the directory receiving
  ``<subset>/`` data dirs, ``subsets``: which subsets (``None`` = the corpus's default list),
  ``nj``: parallel jobs (the corpus preparers build up to ``nj`` subsets at once through
  ``base.prepare_subsets``; the mini corpus generates utterances in ``nj`` processes; ``cpt_mix``
  only combines prepared dirs and ignores it); further keyword options are corpus-specific.
- Never modify ``src``; write atomically; a rerun skips what is already done.
- Raise :class:`espnet_codec_lm.data.kaldi_io.DataDirError` (or ``ValueError``) with a one-line
  message naming the file for bad input.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

CORPORA: dict[str, str] = {
    "mini_bilingual": "espnet_codec_lm.data.corpora.mini_bilingual:prepare_mini_bilingual",
    # real corpora in their published layouts (doc/recipes.md lists what each reads)
    "librispeech": "espnet_codec_lm.data.corpora.librispeech:prepare_librispeech",
    "aishell2": "espnet_codec_lm.data.corpora.aishell2:prepare_aishell2",
    "libritts": "espnet_codec_lm.data.corpora.libritts:prepare_libritts",
    "commonvoice": "espnet_codec_lm.data.corpora.commonvoice:prepare_commonvoice",
    "covost2": "espnet_codec_lm.data.corpora.covost2:prepare_covost2",
    "gigaspeech": "espnet_codec_lm.data.corpora.gigaspeech:prepare_gigaspeech",
    "gigas2s": "espnet_codec_lm.data.corpora.gigas2s:prepare_gigas2s",
    "aishell1": "espnet_codec_lm.data.corpora.aishell1:prepare_aishell1",
    "aishell3": "espnet_codec_lm.data.corpora.aishell3:prepare_aishell3",
    "wenetspeech": "espnet_codec_lm.data.corpora.wenetspeech:prepare_wenetspeech",
    "mls": "espnet_codec_lm.data.corpora.mls:prepare_mls",
    "tedlium3": "espnet_codec_lm.data.corpora.tedlium3:prepare_tedlium3",
    "cpt_mix": "espnet_codec_lm.data.corpora.cpt_mix:prepare_cpt_mix",
}


def get_preparer(name: str) -> Callable[..., Any]:
    """The ``prepare_<name>`` function; ``ValueError`` naming the known corpora otherwise."""
    if name not in CORPORA:
        raise ValueError(f"unknown corpus '{name}' (known: {', '.join(sorted(CORPORA))})")
    module, func = CORPORA[name].split(":")
    return getattr(importlib.import_module(module), func)


def prepare(
    name: str,
    src: str | Path | None,
    out: str | Path,
    subsets: Sequence[str] | None = None,
    nj: int = 1,
    **options: Any,
) -> Any:
    """Run the preparer registered as ``name``."""
    return get_preparer(name)(
        Path(src) if src is not None else None, Path(out), subsets, nj, **options
    )
