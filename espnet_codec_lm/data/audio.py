"""Audio loading for data directories: any ``wav.scp`` entry -> 16 kHz mono float32.

A ``wav.scp`` value is one of
- a path (WAV, FLAC, OGG, MP3: whatever libsndfile reads, through soundfile),
- a command ending in ``|`` whose standard output is an audio file (``flac -dc a.flac |``,
  ``sox a.sph -t wav - |``), run through the shell as Kaldi does,
- a Kaldi archive entry ``file.ark:offset`` (kaldiio, which reads WAV or matrices from arks).

Every failure raises :class:`AudioError` whose message is one line naming the utterance and the
file: missing or unreadable file, a command that fails or prints nothing, a corrupt or truncated
WAV (libsndfile silently returns the frames that exist, so the RIFF header is checked here),
zero-length audio, NaN/Inf samples, a segment outside its recording.
"""

from __future__ import annotations

import io
import re
import struct
import subprocess
from pathlib import Path

import numpy as np

from espnet_codec_lm.data.kaldi_io import DataDirError

SAMPLE_RATE = 16000
_ARK_OFFSET = re.compile(r"^(.+\.ark):(\d+)$")
# sizes that streaming writers (espeak --stdout, sox -t wav -) put in place of the real length
_UNKNOWN_SIZES = (0xFFFFFFFF, 0x7FFFFFFF, 0x7FFFF000, 0)


class AudioError(DataDirError):
    """Unusable audio; the message names the utterance and the file."""


def wav_truncation(data: bytes) -> str | None:
    """Why a RIFF/WAVE byte string is truncated or corrupt, or ``None`` when it is whole.

    Walks the chunk list and compares the declared size of the ``data`` chunk with the bytes
    present. Non-RIFF data returns ``None`` (other formats are left to libsndfile).
    """
    if len(data) < 12 or data[:4] not in (b"RIFF", b"RIFX") or data[8:12] != b"WAVE":
        return None
    endian = "<" if data[:4] == b"RIFF" else ">"
    pos = 12
    while pos + 8 <= len(data):
        chunk_id = data[pos : pos + 4]
        (size,) = struct.unpack(endian + "I", data[pos + 4 : pos + 8])
        if chunk_id == b"data":
            if size in _UNKNOWN_SIZES:
                return None
            have = len(data) - pos - 8
            if have < size:
                return f"truncated WAV: data chunk declares {size} bytes, file has {have}"
            return None
        pos += 8 + size + (size & 1)
    return "corrupt WAV: no 'data' chunk"


def _read_bytes(entry: str) -> tuple[bytes, str]:
    """The bytes an entry stands for, and a name for messages."""
    entry = entry.strip()
    if entry.endswith("|"):
        cmd = entry[:-1].strip()
        proc = subprocess.run(cmd, shell=True, capture_output=True, timeout=600)
        if proc.returncode != 0:
            err = proc.stderr.decode("utf-8", "replace").strip().splitlines()
            detail = f": {err[-1]}" if err else ""
            raise OSError(f"command '{cmd}' exited with status {proc.returncode}{detail}")
        if not proc.stdout:
            raise OSError(f"command '{cmd}' produced no output")
        return proc.stdout, cmd
    return Path(entry).read_bytes(), entry


def _decode(data: bytes, name: str) -> tuple[np.ndarray, int]:
    import soundfile as sf

    why = wav_truncation(data)
    if why is not None:
        raise ValueError(why)
    try:
        wav, sr = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    except Exception as e:  # libsndfile's error types vary by version
        raise ValueError(f"cannot decode audio: {str(e).splitlines()[0]}") from None
    return wav, sr


class _OutsideRecording(ValueError):
    """A segment's bounds fall outside its recording."""


def _segment_bounds(start: float, end: float | None, sr: int, n: int) -> tuple[int, int]:
    """Sample range ``[s, e)`` of the segment ``[start, end)`` s (``end`` None / < 0: to the end)
    of a recording of ``n`` samples; up to 10 ms past the end is tolerated."""
    s = int(round(start * sr))
    e = n if end is None or end < 0 else int(round(end * sr))
    if s >= n or e > n + int(0.01 * sr):
        raise _OutsideRecording(f"segment {start}-{end} s outside the recording ({n / sr:.2f} s)")
    return s, min(e, n)


def _wav_file_truncation(path: Path) -> str | None:
    """:func:`wav_truncation` of a file from its chunk headers only (seeks; reads no samples)."""
    size = path.stat().st_size
    with path.open("rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] not in (b"RIFF", b"RIFX") or head[8:12] != b"WAVE":
            return None
        endian = "<" if head[:4] == b"RIFF" else ">"
        pos = 12
        while pos + 8 <= size:
            f.seek(pos)
            chunk = f.read(8)
            (n,) = struct.unpack(endian + "I", chunk[4:8])
            if chunk[:4] == b"data":
                have = size - pos - 8
                if n not in _UNKNOWN_SIZES and have < n:
                    return f"truncated WAV: data chunk declares {n} bytes, file has {have}"
                return None
            pos += 8 + n + (n & 1)
    return "corrupt WAV: no 'data' chunk"


def read_audio_span(path: str, start: float, end: float | None) -> tuple[np.ndarray, int] | None:
    """Only the samples of ``[start, end)`` s of a plain audio file (``end`` None / < 0: to the
    end), by seeking (libsndfile: WAV, FLAC, OGG/Opus, ...): ``(samples [N, C], rate)``. A
    segment of an hour-long recording costs its own length, not the recording's. ``None`` when
    libsndfile cannot open the file (the caller then decodes it whole). Out-of-range bounds
    raise ``ValueError``."""
    import soundfile as sf

    p = Path(path)
    try:
        info = sf.info(str(p))
    except Exception:  # not a format libsndfile opens by itself
        return None
    why = _wav_file_truncation(p)
    if why is not None:
        raise ValueError(why)
    s, e = _segment_bounds(start, end, int(info.samplerate), int(info.frames))
    try:
        wav, sr = sf.read(str(p), start=s, stop=e, dtype="float32", always_2d=True)
    except Exception as err:
        raise ValueError(f"cannot decode audio: {str(err).splitlines()[0]}") from None
    return wav, sr


def read_audio_raw(entry: str) -> tuple[np.ndarray, int]:
    """Decode a ``wav.scp`` value at its own rate: ``(samples [N, C] float32, rate)``.

    Raises ``OSError`` / ``ValueError`` (without an utterance id; :func:`load_audio` adds it).
    """
    entry = entry.strip()
    m = _ARK_OFFSET.match(entry)
    if m:
        import kaldiio

        if not Path(m.group(1)).is_file():
            raise FileNotFoundError(f"no such file: {m.group(1)}")
        obj = kaldiio.load_mat(entry)
        if isinstance(obj, tuple):  # (rate, samples) for audio stored in an ark
            sr, arr = obj
        else:
            raise ValueError(f"{entry}: ark entry is a matrix, not audio")
        arr = np.asarray(arr)
        if np.issubdtype(arr.dtype, np.integer):
            arr = arr.astype(np.float32) / float(np.iinfo(arr.dtype).max + 1)
        arr = arr.astype(np.float32)
        return (arr[:, None] if arr.ndim == 1 else arr), int(sr)
    if not entry.endswith("|") and not Path(entry).is_file():
        raise FileNotFoundError(f"no such file: {entry}")
    data, name = _read_bytes(entry)
    return _decode(data, name)


def to_mono_resampled(wav: np.ndarray, sr: int, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """``[N]`` or ``[N, C]`` at ``sr`` -> mono float32 ``[N']`` at ``sample_rate`` (soxr HQ)."""
    import soxr

    wav = np.asarray(wav, dtype=np.float32)
    if wav.ndim == 2:
        wav = wav.mean(axis=1)
    if sr != sample_rate:
        wav = soxr.resample(wav, sr, sample_rate, quality="HQ")
    return np.ascontiguousarray(wav, dtype=np.float32)


def load_audio(
    entry: str,
    sample_rate: int = SAMPLE_RATE,
    utt_id: str = "?",
    start: float | None = None,
    end: float | None = None,
    source: str = "wav.scp",
) -> np.ndarray:
    """Load a ``wav.scp`` value (optionally the segment ``[start, end)`` s) as mono float32.

    Every problem becomes an :class:`AudioError` ``"<source>: utterance '<id>': <file>: why"``.
    """
    where = f"{source}: utterance '{utt_id}': {entry.strip()}"
    plain = not entry.strip().endswith("|") and not _ARK_OFFSET.match(entry.strip())
    span = None
    try:
        if start is not None and plain and Path(entry.strip()).is_file():
            span = read_audio_span(entry.strip(), start, end)
        wav, sr = span if span is not None else read_audio_raw(entry)
        if start is not None and span is None:
            s, e_ = _segment_bounds(start, end, sr, wav.shape[0])
            wav = wav[s:e_]
    except _OutsideRecording as e:
        raise AudioError(f"{where}: {e}") from None
    except FileNotFoundError as e:
        raise AudioError(f"{where}: missing audio ({e.args[0] if e.args else e})") from None
    except (OSError, ValueError, subprocess.TimeoutExpired) as e:
        raise AudioError(f"{where}: unreadable audio: {e}") from None
    if wav.shape[0] == 0:
        raise AudioError(f"{where}: zero-length audio")
    if not np.isfinite(wav).all():
        raise AudioError(f"{where}: audio contains NaN or Inf samples")
    return to_mono_resampled(wav, sr, sample_rate)


def audio_duration(entry: str) -> float:
    """Seconds of audio in an entry; reads only the header for plain files."""
    entry = entry.strip()
    if not entry.endswith("|") and not _ARK_OFFSET.match(entry):
        import soundfile as sf

        info = sf.info(entry)
        return info.frames / info.samplerate
    wav, sr = read_audio_raw(entry)
    return wav.shape[0] / sr
