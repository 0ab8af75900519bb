"""LibriSpeech (OpenSLR 12) as distributed: FLAC files and one ``*.trans.txt`` per chapter.

Layout read (``src`` is the ``LibriSpeech/`` directory or its parent)::

    LibriSpeech/<subset>/<reader>/<chapter>/<reader>-<chapter>-<nnnn>.flac
    LibriSpeech/<subset>/<reader>/<chapter>/<reader>-<chapter>.trans.txt
        lines: "<reader>-<chapter>-<nnnn> UPPER CASE WORDS WITHOUT PUNCTUATION"

Output ``out/<subset with _>/`` (``test-clean`` -> ``test_clean``): ``wav.scp`` (the FLAC paths),
``text``, ``utt2spk``, ``utt2lang`` (``en``). The speaker is the reader (not reader-chapter as in
Kaldi's recipe): TTS prompts and speaker similarity need the person. Transcripts are
lower-cased by default (the LLM tokenizer and a punctuation model expect natural text; scoring
normalises case anyway) and then go through the punctuation hook (SPEC: transcripts without
punctuation are restored by a punctuation model; ``identity`` by default).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from espnet_codec_lm.data.corpora.base import (
    apply_punctuation,
    combine_subsets,
    dirname,
    load_options,
    make_data_dir,
    need_dir,
    one_line,
    pick_subsets,
    prepare_subsets,
)
from espnet_codec_lm.data.hooks import HookConfig
from espnet_codec_lm.data.kaldi_io import DataDirError

log = logging.getLogger(__name__)

SUBSETS = (
    "train-clean-100",
    "train-clean-360",
    "train-other-500",
    "dev-clean",
    "dev-other",
    "test-clean",
    "test-other",
)


@dataclass
class LibriSpeechOptions:
    """How LibriSpeech transcripts are turned into ``text``."""

    lowercase: bool = True
    punctuation: HookConfig = field(default_factory=HookConfig)
    #: extra dirs made by joining prepared ones, e.g. {train_960: [train_clean_100, ...]}
    combine: dict[str, list[str]] = field(default_factory=dict)


def find_root(src: Path) -> Path:
    """The directory holding the subsets (``src`` or ``src/LibriSpeech``)."""
    src = need_dir(src, "librispeech")
    return src / "LibriSpeech" if (src / "LibriSpeech").is_dir() else src


def read_chapter_transcripts(trans: Path) -> dict[str, str]:
    """One ``<reader>-<chapter>.trans.txt``: utterance id -> transcript (file:line errors)."""
    out: dict[str, str] = {}
    try:
        lines = trans.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        raise DataDirError(f"{trans}: not valid UTF-8") from None
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        parts = line.split(maxsplit=1)
        if len(parts) < 2:
            raise DataDirError(f"{trans}:{n}: utterance '{parts[0]}': empty transcript")
        if parts[0] in out:
            raise DataDirError(f"{trans}:{n}: utterance '{parts[0]}': duplicate id")
        out[parts[0]] = one_line(parts[1])
    return out


def read_subset(root: Path, subset: str, lowercase: bool = True):
    """``(wav_scp, utt2spk, text)`` of one subset directory."""
    wav_scp: dict[str, str] = {}
    utt2spk: dict[str, str] = {}
    text: dict[str, str] = {}
    files = sorted((root / subset).glob("*/*/*.trans.txt"))
    if not files:
        raise DataDirError(f"librispeech: {root / subset}: no */*/*.trans.txt files")
    for trans in files:
        reader = trans.parent.parent.name
        for utt, words in read_chapter_transcripts(trans).items():
            flac = trans.parent / f"{utt}.flac"
            if not flac.is_file():
                raise DataDirError(f"{trans}: utterance '{utt}': audio {flac} not found")
            if not utt.startswith(f"{reader}-"):
                raise DataDirError(f"{trans}: utterance '{utt}' is not of reader {reader}")
            wav_scp[utt] = str(flac.resolve())
            utt2spk[utt] = reader
            text[utt] = words.lower() if lowercase else words
    return wav_scp, utt2spk, text


def prepare_librispeech(
    src: Path | None,
    out: Path,
    subsets: Sequence[str] | None = None,
    nj: int = 1,
    config: str | Path | None = None,
    overrides: Sequence[str] = (),
) -> dict[str, int]:
    """Write one data directory per subset; returns ``{dir name: utterances}``."""
    opts = load_options(LibriSpeechOptions, "librispeech", config, overrides)
    root = find_root(src)
    present = [s for s in SUBSETS if (root / s).is_dir()]
    chosen = pick_subsets("librispeech", subsets, SUBSETS, present)

    def build(subset: str):
        wav_scp, utt2spk, text = read_subset(root, subset, opts.lowercase)
        text = apply_punctuation(text, "en", opts.punctuation)
        return make_data_dir(wav_scp, utt2spk, text, "en")

    names = {s: dirname(s) for s in chosen}
    result = prepare_subsets("librispeech", root, out, names, opts, build, nj)
    result.update(combine_subsets("librispeech", root, out, opts.combine, opts))
    return result
