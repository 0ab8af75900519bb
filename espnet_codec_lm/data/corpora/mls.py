"""Multilingual LibriSpeech, English part (44.5 k h), as distributed (FLAC or Opus release).

Layout read (``src`` is ``mls_english/`` or ``mls_english_opus/``, or their parent)::

    <src>/{train,dev,test}/transcripts.txt     <spk>_<book>_<seg><TAB>lower case words
    <src>/{train,dev,test}/audio/<spk>/<book>/<spk>_<book>_<seg>.flac   (or .opus)

Output per split: ``wav.scp``, ``utt2spk`` (the speaker), ``text`` (lower case without punctuation,
as released; the punctuation hook may restore it), ``utt2lang`` (``en``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from espnet_codec_lm.data.corpora.aishell2 import read_tab_file
from espnet_codec_lm.data.corpora.base import (
    apply_punctuation,
    load_options,
    make_data_dir,
    need_dir,
    one_line,
    pick_subsets,
    prepare_subsets,
)
from espnet_codec_lm.data.hooks import HookConfig
from espnet_codec_lm.data.kaldi_io import DataDirError

SPLITS = ("train", "dev", "test")


@dataclass
class MLSOptions:
    """The text hook (MLS transcripts have no punctuation)."""

    punctuation: HookConfig = field(default_factory=HookConfig)


def read_split(d: Path):
    """``(wav_scp, utt2spk, text)`` of one split."""
    trans = read_tab_file(d / "transcripts.txt")
    wav_scp, utt2spk, text = {}, {}, {}
    for utt, words in trans.items():
        parts = utt.split("_")
        if len(parts) != 3:
            raise DataDirError(f"{d / 'transcripts.txt'}: utterance '{utt}': not spk_book_seg")
        base = d / "audio" / parts[0] / parts[1] / utt
        audio = next(
            (base.with_suffix(s) for s in (".flac", ".opus") if base.with_suffix(s).is_file()), None
        )
        if audio is None:
            raise DataDirError(f"{d / 'transcripts.txt'}: utterance '{utt}': no audio {base}.flac")
        wav_scp[utt] = str(audio.resolve())
        utt2spk[utt] = parts[0]
        text[utt] = one_line(words)
    return wav_scp, utt2spk, text


def prepare_mls(
    src: Path | None,
    out: Path,
    subsets: Sequence[str] | None = None,
    nj: int = 1,
    config: str | Path | None = None,
    overrides: Sequence[str] = (),
) -> dict[str, int]:
    """Write ``train`` / ``dev`` / ``test``."""
    opts = load_options(MLSOptions, "mls", config, overrides)
    root = need_dir(src, "mls")
    for name in ("mls_english", "mls_english_opus"):
        root = root / name if (root / name).is_dir() else root
    present = [s for s in SPLITS if (root / s / "transcripts.txt").is_file()]
    chosen = pick_subsets("mls", subsets, SPLITS, present)

    def build(split: str):
        wav_scp, utt2spk, text = read_split(root / split)
        return make_data_dir(
            wav_scp, utt2spk, apply_punctuation(text, "en", opts.punctuation), "en"
        )

    return prepare_subsets("mls", root, out, {s: s for s in chosen}, opts, build, nj)
