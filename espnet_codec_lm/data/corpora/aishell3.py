"""AISHELL-3 (Mandarin multi-speaker TTS corpus, 85 h) as distributed.

Layout read (``src`` is ``data_aishell3/`` or its parent)::

    <src>/{train,test}/content.txt    SSB00050001.wav<TAB>广 guang3 州 zhou1 女 nv3 ...
    <src>/{train,test}/wav/SSB0005/SSB00050001.wav      44.1 kHz

``content.txt`` alternates characters and their tone pinyin; ``text`` keeps the characters.
The speaker is the WAV's directory (``SSB0005``). Output ``train`` / ``test`` with ``wav.scp``,
``utt2spk``, ``text``, ``utt2lang`` (``zh``).
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
    pick_subsets,
    prepare_subsets,
)
from espnet_codec_lm.data.hooks import HookConfig
from espnet_codec_lm.data.kaldi_io import DataDirError

SPLITS = ("train", "test")


@dataclass
class Aishell3Options:
    """The text hook (AISHELL-3 transcripts have no punctuation)."""

    punctuation: HookConfig = field(default_factory=HookConfig)


def read_split(d: Path):
    """``(wav_scp, utt2spk, text)`` of ``train`` or ``test``."""
    wav_scp, utt2spk, text = {}, {}, {}
    content = d / "content.txt"
    for name, value in read_tab_file(content).items():
        utt = Path(name).stem
        tokens = value.split()
        chars = "".join(tokens[0::2])
        if not chars:
            raise DataDirError(f"{content}: utterance '{utt}': empty transcript")
        spk = utt[:7]
        wav = d / "wav" / spk / f"{utt}.wav"
        if not wav.is_file():
            raise DataDirError(f"{content}: utterance '{utt}': audio {wav} not found")
        wav_scp[utt] = str(wav.resolve())
        utt2spk[utt] = spk
        text[utt] = chars
    return wav_scp, utt2spk, text


def prepare_aishell3(
    src: Path | None,
    out: Path,
    subsets: Sequence[str] | None = None,
    nj: int = 1,
    config: str | Path | None = None,
    overrides: Sequence[str] = (),
) -> dict[str, int]:
    """Write ``train`` / ``test``."""
    opts = load_options(Aishell3Options, "aishell3", config, overrides)
    root = need_dir(src, "aishell3")
    root = root / "data_aishell3" if (root / "data_aishell3").is_dir() else root
    present = [s for s in SPLITS if (root / s / "content.txt").is_file()]
    chosen = pick_subsets("aishell3", subsets, SPLITS, present)

    def build(split: str):
        wav_scp, utt2spk, text = read_split(root / split)
        return make_data_dir(
            wav_scp, utt2spk, apply_punctuation(text, "zh", opts.punctuation), "zh"
        )

    return prepare_subsets("aishell3", root, out, {s: s for s in chosen}, opts, build, nj)
