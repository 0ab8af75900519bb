"""Reading the Kaldi tables and audio that scoring needs (references and generated speech),
through data/'s readers (one reader of each in the toolkit).

``wav.scp`` values may be a file path (any format soundfile knows, float or PCM), a ``cmd |``
pipe or an ``ark:offset``. Every waveform comes back as float32 mono in [-1, 1] at the requested
rate (soxr resampling), which is what Whisper, RawNet3 and UTMOS expect (16 kHz).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from espnet_codec_lm.data import audio as data_audio
from espnet_codec_lm.data.kaldi_io import read_table as read_kaldi_table


def read_table(path: str | Path) -> dict[str, str]:
    """Read ``id value`` lines (UTF-8; an id alone is an empty value); a duplicate id or a bad
    line is a one-line ValueError naming the file and line."""
    if not Path(path).is_file():
        raise ValueError(f"{path}: cannot read: no such file")
    return read_kaldi_table(path, allow_empty_value=True)


def load_audio(
    entry: str, sample_rate: int = 16000, base: Path | None = None, utt_id: str = "?"
) -> np.ndarray:
    """Load one ``wav.scp`` value as float32 mono at ``sample_rate``.

    Relative paths are resolved against ``base`` when given and the file is not found as is
    (decode dirs may store paths relative to themselves).
    """
    entry = entry.strip()
    path = Path(entry)
    if base is not None and not path.is_file() and (base / path).is_file():
        entry = str(base / path)
    return data_audio.load_audio(entry, sample_rate, utt_id=utt_id)
