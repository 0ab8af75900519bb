"""LibriTTS (OpenSLR 60) as distributed: 24 kHz WAVs with normalised and original texts.

Layout read (``src`` is the ``LibriTTS/`` directory or its parent)::

    LibriTTS/<subset>/<spk>/<chapter>/<spk>_<chapter>_<para>_<sent>.wav
    LibriTTS/<subset>/<spk>/<chapter>/<spk>_<chapter>_<para>_<sent>.normalized.txt
    LibriTTS/<subset>/<spk>/<chapter>/<spk>_<chapter>_<para>_<sent>.original.txt

Output per subset (``test-clean`` -> ``test_clean``): ``wav.scp`` (the 24 kHz WAVs; stages resample
to 16 kHz when they load them), ``text`` (``normalized`` by default: punctuated, cased, numbers
spelled out, what a TTS model should read), ``utt2spk`` (the speaker), ``utt2lang`` (``en``).
An utterance whose text file is missing or empty is an error naming it (``skip_empty: true``
drops those instead and logs their ids). The VALL-E style 3 s speaker prompt is chosen later
(another utterance of the same speaker), by the task builder.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

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
from espnet_codec_lm.data.corpora.librispeech import SUBSETS
from espnet_codec_lm.data.hooks import HookConfig
from espnet_codec_lm.data.kaldi_io import DataDirError

log = logging.getLogger(__name__)


@dataclass
class LibriTTSOptions:
    """Which text file becomes ``text``."""

    text: Literal["normalized", "original"] = "normalized"
    skip_empty: bool = False
    punctuation: HookConfig = field(default_factory=HookConfig)  # normalized text has it
    #: extra dirs made by joining prepared ones, e.g. {train_960: [train_clean_100, ...]}
    combine: dict[str, list[str]] = field(default_factory=dict)


def find_root(src: Path) -> Path:
    """The directory holding the subsets (``src`` or ``src/LibriTTS``)."""
    src = need_dir(src, "libritts")
    return src / "LibriTTS" if (src / "LibriTTS").is_dir() else src


def read_subset(root: Path, subset: str, which: str = "normalized", skip_empty: bool = False):
    """``(wav_scp, utt2spk, text)`` of one subset."""
    wav_scp, utt2spk, text = {}, {}, {}
    wavs = sorted((root / subset).glob("*/*/*.wav"))
    if not wavs:
        raise DataDirError(f"libritts: {root / subset}: no */*/*.wav files")
    skipped = []
    for wav in wavs:
        utt = wav.stem
        spk = wav.parent.parent.name
        if not utt.startswith(f"{spk}_"):
            raise DataDirError(f"libritts: {wav}: file name does not start with speaker {spk}_")
        txt = wav.with_name(f"{utt}.{which}.txt")
        try:
            content = one_line(txt.read_text(encoding="utf-8"))
        except FileNotFoundError:
            content = ""
        except UnicodeDecodeError:
            raise DataDirError(f"{txt}: utterance '{utt}': not valid UTF-8") from None
        if not content:
            if skip_empty:
                skipped.append(utt)
                continue
            raise DataDirError(f"{txt}: utterance '{utt}': missing or empty transcript")
        wav_scp[utt] = str(wav.resolve())
        utt2spk[utt] = spk
        text[utt] = content
    if skipped:
        log.warning("libritts %s: skipped %d without text: %s", subset, len(skipped), skipped)
    return wav_scp, utt2spk, text


def prepare_libritts(
    src: Path | None,
    out: Path,
    subsets: Sequence[str] | None = None,
    nj: int = 1,
    config: str | Path | None = None,
    overrides: Sequence[str] = (),
) -> dict[str, int]:
    """Write one data directory per subset; returns ``{dir name: utterances}``."""
    opts = load_options(LibriTTSOptions, "libritts", config, overrides)
    root = find_root(src)
    present = [s for s in SUBSETS if (root / s).is_dir()]
    chosen = pick_subsets("libritts", subsets, SUBSETS, present)

    def build(subset: str):
        wav_scp, utt2spk, text = read_subset(root, subset, opts.text, opts.skip_empty)
        text = apply_punctuation(text, "en", opts.punctuation)
        return make_data_dir(wav_scp, utt2spk, text, "en")

    result = prepare_subsets(
        "libritts", root, out, {s: dirname(s) for s in chosen}, opts, build, nj
    )
    result.update(combine_subsets("libritts", root, out, opts.combine, opts))
    return result
