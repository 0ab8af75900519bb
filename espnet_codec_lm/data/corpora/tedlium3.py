"""TED-LIUM release 3 (English TED talks, 452 h) as distributed: SPHERE audio + STM transcripts.

Layout read (``src`` is ``TEDLIUM_release-3/`` or its parent)::

    <src>/<partition>/{train,dev,test}/sph/<talk>.sph      16 kHz NIST SPHERE
    <src>/<partition>/{train,dev,test}/stm/<talk>.stm
        <talk> <channel> <speaker> <start> <end> <label> <words ...>

``partition`` is ``legacy`` (the TED-LIUM 2 dev/test split, the usual benchmark) or
``speaker-adaptation``; the full 452 h training material is ``data/`` (``train_partition: data``).
Segments whose text is ``ignore_time_segment_in_scoring`` are skipped; ``<unk>`` tokens are
removed; the release's split contractions (``it 's``) are joined (``it's``). Output per split:
``wav.scp`` (one SPHERE file per talk), ``segments``, ``utt2spk`` (the STM speaker), ``text``
(lower case, no punctuation: the punctuation hook may restore it), ``utt2lang`` (``en``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from espnet_codec_lm.data.corpora.base import (
    apply_punctuation,
    load_options,
    need_dir,
    pick_subsets,
    prepare_subsets,
)
from espnet_codec_lm.data.data_dir import DataDir, Segment
from espnet_codec_lm.data.hooks import HookConfig
from espnet_codec_lm.data.kaldi_io import DataDirError

SPLITS = ("train", "dev", "test")
_CONTRACTION = re.compile(r" '(?=[a-z])")


@dataclass
class Tedlium3Options:
    """Which partition to read and the text hook."""

    partition: str = "legacy"
    train_partition: str | None = None  # "data": all 452 h for training
    punctuation: HookConfig = field(default_factory=HookConfig)


def clean_words(words: str) -> str:
    """STM words -> text: no ``<unk>`` / ``{NOISE}`` style tokens, contractions joined."""
    kept = [w for w in words.split() if not (w.startswith(("<", "{", "[")) or w == "(2)")]
    return _CONTRACTION.sub("'", " ".join(kept)).strip()


def read_split(d: Path) -> DataDir:
    """One split directory (``sph/`` + ``stm/``) as a data dir with segments."""
    stms = sorted((d / "stm").glob("*.stm"))
    if not stms:
        raise DataDirError(f"tedlium3: {d / 'stm'}: no .stm files")
    wav_scp, segments, utt2spk, text = {}, {}, {}, {}
    for stm in stms:
        talk = stm.stem
        sph = d / "sph" / f"{talk}.sph"
        if not sph.is_file():
            raise DataDirError(f"{stm}: audio {sph} not found")
        for n, line in enumerate(stm.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip() or line.startswith(";;"):
                continue
            parts = line.split(maxsplit=6)
            if len(parts) < 6:
                raise DataDirError(f"{stm}:{n}: expected 'talk channel speaker start end label'")
            words = parts[6] if len(parts) > 6 else ""
            if "ignore_time_segment_in_scoring" in words:
                continue
            t = clean_words(words)
            if not t:
                continue
            start, end = float(parts[3]), float(parts[4])
            spk = parts[2]
            utt = f"{spk}-{int(round(start * 100)):07d}-{int(round(end * 100)):07d}"
            if utt in utt2spk:
                raise DataDirError(f"{stm}:{n}: utterance '{utt}': duplicate segment")
            wav_scp[talk] = str(sph.resolve())
            segments[utt] = Segment(talk, start, end)
            utt2spk[utt] = spk
            text[utt] = t
    return DataDir(wav_scp, utt2spk, text, segments, dict.fromkeys(utt2spk, "en"))


def prepare_tedlium3(
    src: Path | None,
    out: Path,
    subsets: Sequence[str] | None = None,
    nj: int = 1,
    config: str | Path | None = None,
    overrides: Sequence[str] = (),
) -> dict[str, int]:
    """Write ``train`` / ``dev`` / ``test`` of the chosen partition."""
    opts = load_options(Tedlium3Options, "tedlium3", config, overrides)
    root = need_dir(src, "tedlium3")
    if (root / "TEDLIUM_release-3").is_dir():
        root = root / "TEDLIUM_release-3"
    dirs = {s: root / opts.partition / s for s in SPLITS}
    if opts.train_partition:
        dirs["train"] = root / opts.train_partition
    present = [s for s, d in dirs.items() if (d / "stm").is_dir()]
    chosen = pick_subsets("tedlium3", subsets, SPLITS, present)

    def build(split: str) -> DataDir:
        dd = read_split(dirs[split])
        return replace(dd, text=apply_punctuation(dd.text, "en", opts.punctuation))

    return prepare_subsets("tedlium3", root, out, {s: s for s in chosen}, opts, build, nj)
