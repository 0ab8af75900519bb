"""AISHELL-2 (Mandarin read speech) as distributed, with its separate dev/test package.

Layout read (each set directory has the same two files, tab-separated, paths relative to it)::

    <src>/AISHELL-2/iOS/data/wav.scp        IC0001W0001<TAB>wav/C0001/IC0001W0001.wav
    <src>/AISHELL-2/iOS/data/trans.txt      IC0001W0001<TAB>厨房用具
    <src>/AISHELL-DEV-TEST-SET/iOS/dev/{wav.scp,trans.txt,wav/...}
    <src>/AISHELL-DEV-TEST-SET/iOS/test/{wav.scp,trans.txt,wav/...}

``src`` may also be the ``AISHELL-2`` directory itself (then the dev/test package is looked for
beside it, or named by ``devtest_root``). ``channel`` picks the recording device (``iOS``,
``Android``, ``Mic``; the paper's Aishell2 results are on iOS). As in Kaldi's
``aishell2/s5/local/prepare_data.sh``, only utterances in both files are kept and the speaker
is the name of the WAV's directory (``C0001``). Transcripts are kept as written (characters,
occasional upper-case English words), whitespace removed; the punctuation hook may restore
punctuation (SPEC: ASR targets are punctuated transcripts).
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
    pick_subsets,
    prepare_subsets,
)
from espnet_codec_lm.data.hooks import HookConfig
from espnet_codec_lm.data.kaldi_io import DataDirError

log = logging.getLogger(__name__)

SUBSETS = ("train", "dev", "test")


@dataclass
class Aishell2Options:
    """Which channel, where the dev/test package lies, and the text hook."""

    channel: str = "iOS"
    devtest_root: str | None = None  # default: AISHELL-DEV-TEST-SET beside/inside src
    remove_spaces: bool = True
    punctuation: HookConfig = field(default_factory=HookConfig)


def read_tab_file(path: Path) -> dict[str, str]:
    """``id<TAB>value`` (or whitespace) lines; duplicate ids and empty values are errors."""
    out: dict[str, str] = {}
    try:
        lines = need_file(path, "aishell2").read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        raise DataDirError(f"{path}: not valid UTF-8") from None
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        parts = line.strip().split("\t", 1) if "\t" in line else line.strip().split(None, 1)
        if len(parts) < 2 or not parts[1].strip():
            raise DataDirError(f"{path}:{n}: utterance '{parts[0]}': empty value")
        if parts[0] in out:
            raise DataDirError(f"{path}:{n}: utterance '{parts[0]}': duplicate id")
        out[parts[0]] = parts[1].strip()
    return out


def set_dirs(src: Path, opts: Aishell2Options) -> dict[str, Path]:
    """Where each set's ``wav.scp`` / ``trans.txt`` live (only those that exist)."""
    src = need_dir(src, "aishell2")
    train_root = src / "AISHELL-2" if (src / "AISHELL-2").is_dir() else src
    if opts.devtest_root:
        dt = need_dir(Path(opts.devtest_root), "aishell2", "dev/test package")
    else:
        candidates = [src / "AISHELL-DEV-TEST-SET", train_root.parent / "AISHELL-DEV-TEST-SET"]
        dt = next((c for c in candidates if c.is_dir()), train_root)
    dirs = {
        "train": train_root / opts.channel / "data",
        "dev": dt / opts.channel / "dev",
        "test": dt / opts.channel / "test",
    }
    return {k: v for k, v in dirs.items() if (v / "wav.scp").is_file()}


def read_set(d: Path, remove_spaces: bool = True):
    """``(wav_scp, utt2spk, text)`` of one AISHELL-2 set directory."""
    wavs = read_tab_file(d / "wav.scp")
    trans = read_tab_file(d / "trans.txt")
    keep = sorted(set(wavs) & set(trans))
    dropped = len(set(wavs) ^ set(trans))
    if dropped:
        log.warning("%s: %d ids are in only one of wav.scp / trans.txt (dropped)", d, dropped)
    if not keep:
        raise DataDirError(f"aishell2: {d}: no utterance is in both wav.scp and trans.txt")
    wav_scp, utt2spk, text = {}, {}, {}
    for utt in keep:
        path = (d / wavs[utt]).resolve()
        if not path.is_file():
            raise DataDirError(f"{d / 'wav.scp'}: utterance '{utt}': audio {path} not found")
        wav_scp[utt] = str(path)
        utt2spk[utt] = path.parent.name
        t = trans[utt]
        text[utt] = "".join(t.split()) if remove_spaces else " ".join(t.split())
    return wav_scp, utt2spk, text


def prepare_aishell2(
    src: Path | None,
    out: Path,
    subsets: Sequence[str] | None = None,
    nj: int = 1,
    config: str | Path | None = None,
    overrides: Sequence[str] = (),
) -> dict[str, int]:
    """Write ``train``, ``dev``, ``test`` (those present, or those asked for)."""
    opts = load_options(Aishell2Options, "aishell2", config, overrides)
    dirs = set_dirs(src, opts)
    chosen = pick_subsets("aishell2", subsets, SUBSETS, list(dirs))

    def build(subset: str):
        wav_scp, utt2spk, text = read_set(dirs[subset], opts.remove_spaces)
        text = apply_punctuation(text, "zh", opts.punctuation)
        return make_data_dir(wav_scp, utt2spk, text, "zh")

    return prepare_subsets("aishell2", src, out, {s: s for s in chosen}, opts, build, nj)
