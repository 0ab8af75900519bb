"""Reading the Kaldi tables and audio that scoring needs (references and generated speech).

``wav.scp`` values may be a file path (read with soundfile, any format it knows, float or PCM),
a ``cmd |`` pipe or an ``ark:offset`` (both through kaldiio). Every waveform comes back as float32
mono in [-1, 1] at the requested rate (soxr resampling), which is what Whisper, RawNet3 and UTMOS
expect (16 kHz).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def read_table(path: str | Path) -> dict[str, str]:
    """Read ``id value`` lines (UTF-8); a duplicate id or a bad line is a one-line ValueError."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise ValueError(f"{path}: cannot read: {e.strerror or e}") from None
    out: dict[str, str] = {}
    for lineno, line_b in enumerate(raw.splitlines(), start=1):
        try:
            line = line_b.decode("utf-8").strip()
        except UnicodeDecodeError as e:
            raise ValueError(f"{path}:{lineno}: not valid UTF-8 (byte {e.start})") from None
        if not line:
            continue
        parts = line.split(maxsplit=1)
        if parts[0] in out:
            raise ValueError(f"{path}:{lineno}: duplicate id '{parts[0]}'")
        out[parts[0]] = parts[1].strip() if len(parts) > 1 else ""
    return out


def _to_float_mono(data: np.ndarray) -> np.ndarray:
    if np.issubdtype(data.dtype, np.integer):
        data = data.astype(np.float32) / float(np.iinfo(data.dtype).max + 1)
    data = np.asarray(data, dtype=np.float32)
    if data.ndim == 2:  # [samples, channels]
        data = data.mean(axis=1)
    return data


def load_audio(entry: str, sample_rate: int = 16000, base: Path | None = None) -> np.ndarray:
    """Load one ``wav.scp`` value as float32 mono at ``sample_rate``.

    Relative paths are resolved against ``base`` when given and the file is not found as is
    (decode dirs may store paths relative to themselves).
    """
    entry = entry.strip()
    if entry.endswith("|") or ".ark:" in entry:
        import kaldiio

        loaded = kaldiio.load_mat(entry)
        if not isinstance(loaded, tuple):
            raise ValueError(f"'{entry}' is not audio (got a matrix of shape {loaded.shape})")
        rate, data = loaded
    else:
        import soundfile as sf

        path = Path(entry)
        if not path.is_file() and base is not None and (base / path).is_file():
            path = base / path
        try:
            data, rate = sf.read(str(path), dtype="float32", always_2d=False)
        except Exception as e:  # soundfile raises several types; all mean "cannot read"
            raise ValueError(f"cannot read audio '{entry}': {e}") from None
    wav = _to_float_mono(np.asarray(data))
    if rate != sample_rate:
        import soxr

        wav = soxr.resample(wav, rate, sample_rate).astype(np.float32)
    return wav
