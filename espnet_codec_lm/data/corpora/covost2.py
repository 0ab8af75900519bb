"""CoVoST 2 speech-to-text translation (EN->ZH and ZH->EN) on Common Voice 4 clips.

Layout read::

    <src>/covost_v2.en_zh-CN.tsv     released translations: path, translation, split (and more)
    <src>/covost_v2.zh-CN_en.tsv
    <cv_root>/en/validated.tsv, <cv_root>/en/clips/*.mp3          (Common Voice, 48 kHz MP3)
    <cv_root>/zh-CN/validated.tsv, <cv_root>/zh-CN/clips/*.mp3

``cv_root`` defaults to ``src``. As in the official ``get_covost_splits.py``, the CoVoST TSV is
joined with Common Voice's ``validated.tsv`` on ``path`` (``sentence`` and ``client_id`` come from
Common Voice, ``translation`` and ``split`` from CoVoST), and the training split is
``train`` + ``train_covost``. When the split files that script writes
(``covost_v2.<src>_<tgt>.<split>.tsv``: path sentence translation client_id) are present instead,
they are read directly.

Output per direction and split: ``train_en_zh``, ``dev_en_zh``, ``test_en_zh``, ``train_zh_en``...
with ``text`` (source transcript), ``text.<tgt>`` (the translation), ``utt2lang`` (source).
With ``combine: true`` (default) also ``train`` and ``dev`` holding both directions (their clips
are disjoint), the sets a bidirectional S2TT fine-tuning trains and validates on.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from espnet_codec_lm.data.corpora.base import (
    apply_punctuation,
    load_options,
    make_data_dir,
    need_dir,
    one_line,
    pick_subsets,
    prepare_subsets,
)
from espnet_codec_lm.data.corpora.commonvoice import (
    check_mp3_support,
    clip_entries,
    lang_code,
    read_tsv,
)
from espnet_codec_lm.data.data_dir import DataDir, combine_data_dirs
from espnet_codec_lm.data.hooks import HookConfig
from espnet_codec_lm.data.kaldi_io import DataDirError

log = logging.getLogger(__name__)

SPLITS = ("train", "dev", "test")


@dataclass
class CoVoST2Options:
    """Directions (``<src>_<tgt>`` in CoVoST's locale names) and where Common Voice lies."""

    directions: list[str] = field(default_factory=lambda: ["en_zh-CN", "zh-CN_en"])
    cv_root: str | None = None
    combine: bool = True
    punctuation: HookConfig = field(default_factory=HookConfig)


def direction_name(direction: str) -> str:
    """``en_zh-CN`` -> ``en_zh``."""
    src, tgt = split_direction(direction)
    return f"{lang_code(src)}_{lang_code(tgt)}"


def split_direction(direction: str) -> tuple[str, str]:
    """``en_zh-CN`` -> (``en``, ``zh-CN``)."""
    parts = direction.split("_")
    if len(parts) != 2 or "en" not in parts or parts[0] == parts[1]:
        raise ValueError(f"covost2: direction '{direction}' is not '<src>_<tgt>' with en on a side")
    return parts[0], parts[1]


def split_rows(root: Path, cv_root: Path, direction: str, split: str) -> list[dict[str, str]]:
    """Rows (path, sentence, translation, client_id) of one direction and split."""
    src, _ = split_direction(direction)
    pre_split = root / f"covost_v2.{direction}.{split}.tsv"
    raw = root / f"covost_v2.{direction}.tsv"
    if not raw.is_file() and pre_split.is_file():
        return read_tsv(pre_split, ("path", "sentence", "translation", "client_id"))
    covost = read_tsv(raw, ("path", "translation", "split"))
    cv = {r["path"]: r for r in read_tsv(cv_root / src / "validated.tsv", ("path", "sentence"))}
    wanted = {split, f"{split}_covost"} if split == "train" else {split}
    rows = []
    for r in covost:
        if r["split"] not in wanted:
            continue
        c = cv.get(r["path"])
        if c is None:  # the official script's inner join drops these silently; we count them
            continue
        rows.append({**c, "translation": r["translation"]})
    n_split = sum(r["split"] in wanted for r in covost)
    if len(rows) < n_split:
        log.warning(
            "covost2 %s %s: %d of %d rows have no Common Voice entry in %s (dropped)",
            direction, split, n_split - len(rows), n_split, cv_root / src / "validated.tsv",
        )  # fmt: skip
    return rows


def build_direction(root: Path, cv_root: Path, direction: str, split: str, punct) -> DataDir:
    """The data dir of one direction and split."""
    src, tgt = split_direction(direction)
    tsv = root / f"covost_v2.{direction}.tsv"
    rows = split_rows(root, cv_root, direction, split)
    if not rows:
        raise DataDirError(f"covost2: {tsv}: no rows for split '{split}'")
    wav_scp, utt2spk, text = clip_entries(cv_root / src, rows, tsv)
    translation = {}
    for r in rows:
        utt = Path(r["path"]).stem
        t = one_line(r.get("translation", "") or "")
        if not t:
            raise DataDirError(f"{tsv}: utterance '{utt}': empty translation")
        translation[utt] = t
    text = apply_punctuation(text, lang_code(src), punct)
    return make_data_dir(
        wav_scp, utt2spk, text, lang_code(src), translations={lang_code(tgt): translation}
    )


def prepare_covost2(
    src: Path | None,
    out: Path,
    subsets: Sequence[str] | None = None,
    nj: int = 1,
    config: str | Path | None = None,
    overrides: Sequence[str] = (),
) -> dict[str, int]:
    """Write ``<split>_<src>_<tgt>`` per direction (+ combined ``train`` / ``dev``)."""
    opts = load_options(CoVoST2Options, "covost2", config, overrides)
    root = need_dir(src, "covost2")
    cv_root = need_dir(Path(opts.cv_root), "covost2", "cv_root") if opts.cv_root else root
    check_mp3_support()
    names: dict[str, tuple[str, str]] = {}
    for d in opts.directions:
        for split in SPLITS:
            names[f"{split}_{direction_name(d)}"] = (d, split)
    present = [
        n
        for n, (d, split) in names.items()
        if (root / f"covost_v2.{d}.tsv").is_file()
        or (root / f"covost_v2.{d}.{split}.tsv").is_file()
    ]
    known = list(names) + (["train", "dev"] if opts.combine else [])
    if opts.combine:
        present += [s for s in ("train", "dev") if any(names[n][1] == s for n in present)]
    chosen = pick_subsets("covost2", subsets, known, present)
    built: dict[str, DataDir] = {}

    def build(name: str) -> DataDir:
        if name in names:
            if name not in built:
                d, split = names[name]
                built[name] = build_direction(root, cv_root, d, split, opts.punctuation)
            return built[name]
        parts = [build(n) for n in names if names[n][1] == name and n in present]
        return combine_data_dirs(parts)

    return prepare_subsets("covost2", root, out, {n: n for n in chosen}, opts, build, nj)
