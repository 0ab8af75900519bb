"""Reading the audio of a Kaldi data directory for the codec stages.

``wav.scp`` values may be a file path (read with soundfile), a ``cmd |`` pipe or an ark offset
(read with kaldiio); an optional ``segments`` file cuts utterances out of recordings. Audio at
another sample rate is an error naming the utterance: resampling belongs to data preparation.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from espnet_codec_lm.data.kaldi_io import DataDirError, read_table


def _scp_path(data: str | Path) -> Path:
    data = Path(data)
    return data / "wav.scp" if data.is_dir() else data


def list_utterances(data: str | Path) -> list[tuple[str, str, float | None, float | None]]:
    """``(utt_id, wav.scp value, start_s, end_s)`` for a data dir or a ``wav.scp`` file, sorted."""
    scp = _scp_path(data)
    table = read_table(scp)
    seg_file = scp.parent / "segments" if Path(data).is_dir() else None
    if seg_file is not None and seg_file.is_file():
        out = []
        for utt, value in read_table(seg_file).items():
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
    """Mono float32 audio of one ``wav.scp`` value at ``sample_rate`` (error otherwise)."""
    try:
        if value.rstrip().endswith("|") or ":" in Path(value).name and not Path(value).exists():
            import kaldiio

            rate, wav = kaldiio.load_mat(value)
            wav = np.asarray(wav)
            if wav.dtype == np.int16:
                wav = wav.astype(np.float32) / 32768.0
        else:
            import soundfile as sf

            from espnet_codec_lm.data.audio import wav_truncation

            # libsndfile silently returns the frames a cut-off WAV still holds
            why = (
                wav_truncation(Path(value).read_bytes()) if value.lower().endswith(".wav") else None
            )
            if why is not None:
                raise ValueError(why)
            wav, rate = sf.read(value, dtype="float32", always_2d=False)
    except Exception as e:  # any reader failure becomes one line naming the utterance
        raise DataDirError(f"utterance '{utt}': cannot read audio '{value}': {e}") from None
    if not np.isfinite(wav).all():  # NaN audio would train the codec to NaN silently
        raise DataDirError(f"utterance '{utt}': audio contains NaN or Inf samples ('{value}')")
    if rate != sample_rate:
        raise DataDirError(
            f"utterance '{utt}': sample rate {rate} Hz, expected {sample_rate} Hz ('{value}')"
        )
    wav = np.asarray(wav, dtype=np.float32)
    if wav.ndim == 2:  # downmix multi-channel
        wav = wav.mean(axis=1)
    if start is not None:
        s = int(round(start * rate))
        e = int(round(end * rate)) if end is not None and end > 0 else len(wav)
        wav = wav[s:e]
    return wav


def iter_audio(
    data: str | Path, sample_rate: int, max_utts: int = 0
) -> Iterator[tuple[str, np.ndarray]]:
    """``(utt_id, audio)`` for the utterances of a data dir (the first ``max_utts`` if > 0)."""
    utts = list_utterances(data)
    if max_utts > 0:
        utts = utts[:max_utts]
    for utt, value, start, end in utts:
        yield utt, load_audio(value, sample_rate, utt, start, end)
