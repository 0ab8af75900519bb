"""AISHELL-1 (OpenSLR 33, Mandarin read speech, 178 h) as distributed.

Layout read (``src`` is ``data_aishell/`` or its parent; the per-speaker ``.tar.gz`` files that
the release ships inside ``wav/`` must be unpacked first)::

    <src>/data_aishell/wav/{train,dev,test}/<spk>/<utt>.wav          16 kHz
    <src>/data_aishell/transcript/aishell_transcript_v0.8.txt
        BAC009S0002W0122 而 对 楼市 成交 抑制 作用 最 大 的 限 购      (words, space-separated)

Only WAVs with a transcript are kept (the release has some without, which Kaldi's
``aishell_data_prep.sh`` drops too). The speaker is the WAV's directory (``S0002``). ``text`` has
the word spaces removed (Mandarin is scored per character; ``remove_spaces: false`` keeps them)
and may be punctuated by the hook. Output ``train`` / ``dev`` / ``test`` with ``wav.scp``,
``utt2spk``, ``text``, ``utt2lang`` (``zh``).
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
    need_file,
    once,
    one_line,
    pick_subsets,
    prepare_subsets,
)
from espnet_codec_lm.data.hooks import HookConfig
from espnet_codec_lm.data.kaldi_io import DataDirError

log = logging.getLogger(__name__)

SPLITS = ("train", "dev", "test")
TRANSCRIPT = "transcript/aishell_transcript_v0.8.txt"


@dataclass
class Aishell1Options:
    """Text handling."""

    remove_spaces: bool = True
    punctuation: HookConfig = field(default_factory=HookConfig)


def read_transcript(path: Path) -> dict[str, str]:
    """``utt words...`` lines (space-separated) -> utterance id -> words."""
    out: dict[str, str] = {}
    try:
        lines = need_file(path, "aishell1").read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        raise DataDirError(f"{path}: not valid UTF-8") from None
    for n, line in enumerate(lines, 1):
        parts = line.split(maxsplit=1)
        if not parts:
            continue
        if len(parts) < 2:
            raise DataDirError(f"{path}:{n}: utterance '{parts[0]}': empty transcript")
        if parts[0] in out:
            raise DataDirError(f"{path}:{n}: utterance '{parts[0]}': duplicate id")
        out[parts[0]] = one_line(parts[1])
    return out


def read_split(root: Path, split: str, trans: dict[str, str], remove_spaces: bool = True):
    """``(wav_scp, utt2spk, text)`` of one split: its WAVs that have a transcript."""
    wavs = sorted((root / "wav" / split).glob("*/*.wav"))
    if not wavs:
        raise DataDirError(f"aishell1: {root / 'wav' / split}: no <spk>/*.wav files")
    wav_scp, utt2spk, text = {}, {}, {}
    for wav in wavs:
        words = trans.get(wav.stem)
        if words is None:
            continue
        wav_scp[wav.stem] = str(wav.resolve())
        utt2spk[wav.stem] = wav.parent.name
        text[wav.stem] = "".join(words.split()) if remove_spaces else words
    dropped = len(wavs) - len(wav_scp)
    if dropped:
        log.info("aishell1 %s: %d WAVs without a transcript dropped", split, dropped)
    if not wav_scp:
        raise DataDirError(f"aishell1: {root / TRANSCRIPT}: no transcript for any {split} WAV")
    return wav_scp, utt2spk, text


def prepare_aishell1(
    src: Path | None,
    out: Path,
    subsets: Sequence[str] | None = None,
    nj: int = 1,
    config: str | Path | None = None,
    overrides: Sequence[str] = (),
) -> dict[str, int]:
    """Write ``train`` / ``dev`` / ``test`` (those present, or those asked for)."""
    opts = load_options(Aishell1Options, "aishell1", config, overrides)
    root = need_dir(src, "aishell1")
    root = root / "data_aishell" if (root / "data_aishell").is_dir() else root
    present = [s for s in SPLITS if (root / "wav" / s).is_dir()]
    chosen = pick_subsets("aishell1", subsets, SPLITS, present)
    transcript = once(lambda: read_transcript(root / TRANSCRIPT))

    def build(split: str):
        wav_scp, utt2spk, text = read_split(root, split, transcript(), opts.remove_spaces)
        text = apply_punctuation(text, "zh", opts.punctuation)
        return make_data_dir(wav_scp, utt2spk, text, "zh")

    return prepare_subsets("aishell1", root, out, {s: s for s in chosen}, opts, build, nj)
