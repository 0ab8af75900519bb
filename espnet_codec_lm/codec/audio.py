"""Reading the audio of a Kaldi data directory for the codec stages.

``wav.scp`` values may be a file path, a ``cmd |`` pipe or an ark offset (read by the data
layer, :mod:`espnet_codec_lm.data.audio`); an optional ``segments`` file cuts utterances out of
recordings. Audio at another sample rate is resampled on reading.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from espnet_codec_lm.data.audio import load_audio as _load
from espnet_codec_lm.data.kaldi_io import DataDirError, read_table


def _scp_path(data: str | Path) -> Path:
    data = Path(data)
    return data / "wav.scp" if data.is_dir() else data


def list_utterances(data: str | Path) -> list[tuple[str, str, float | None, float | None]]:
    """``(utt_id, wav.scp value, start_s, end_s)`` for a data dir or a ``wav.scp`` file, sorted.
    An utterance id that is not a safe file name is a one-line error naming file and line."""
    scp = _scp_path(data)
    seg_file = scp.parent / "segments" if Path(data).is_dir() else None
    segmented = seg_file is not None and seg_file.is_file()
    table = read_table(scp, check_ids=not segmented)  # keys are recording ids with segments
    if segmented:
        out = []
        for utt, value in read_table(seg_file, check_ids=True).items():
            parts = value.split()
            if len(parts) != 3 or parts[0] not in table:
                raise DataDirError(f"{seg_file}: utterance '{utt}': bad segment '{value}'")
            out.append((utt, table[parts[0]], float(parts[1]), float(parts[2])))
        return sorted(out)
    return [(utt, value, None, None) for utt, value in sorted(table.items())]


def load_audio(
    value: str,
    sample_rate: int,
    utt: str = "?",
    start: float | None = None,
    end: float | None = None,
) -> np.ndarray:
    """Mono float32 audio of one ``wav.scp`` value at ``sample_rate``.

    Delegates to :func:`espnet_codec_lm.data.audio.load_audio`: other rates are resampled (soxr),
    and missing, corrupt or truncated files, empty audio and NaN/Inf samples raise a one-line
    :class:`~espnet_codec_lm.data.audio.AudioError` naming the utterance.
    """
    return _load(value, sample_rate, utt, start, end)


def iter_audio(
    data: str | Path, sample_rate: int, max_utts: int = 0
) -> Iterator[tuple[str, np.ndarray]]:
    """``(utt_id, audio)`` for the utterances of a data dir (the first ``max_utts`` if > 0)."""
    utts = list_utterances(data)
    if max_utts > 0:
        utts = utts[:max_utts]
    for utt, value, start, end in utts:
        yield utt, load_audio(value, sample_rate, utt, start, end)
