"""Synthetic audio and small data directories for tests (any area may use these).

Nothing here needs espeak-ng except :func:`make_tiny_corpus`. The bad-file writers produce each
defect that the data layer must report (truncated, corrupt, empty, NaN), so tests of other
stages can check their own error paths on the same inputs.

Example::

    from espnet_codec_lm.testing.audio import make_data_dir, speech_like
    data = make_data_dir(tmp_path / "data", n_utts=4)      # wav.scp text utt2spk ... at 16 kHz
    wav = speech_like(1.5, rng=np.random.default_rng(0))    # float32 [24000]
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from espnet_codec_lm.data.data_dir import DataDir, write_data_dir
from espnet_codec_lm.data.mini_corpus import SIZES, generate

SAMPLE_RATE = 16000


def sine(freq: float, seconds: float, sample_rate: int = SAMPLE_RATE, amplitude: float = 0.5):
    """A pure tone, float32 ``[round(seconds * sample_rate)]``."""
    t = np.arange(int(round(seconds * sample_rate))) / sample_rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def speech_like(
    seconds: float,
    sample_rate: int = SAMPLE_RATE,
    rng: np.random.Generator | None = None,
    f0: float = 120.0,
) -> np.ndarray:
    """A crude voiced signal: harmonics of a wobbling f0, syllable-rate amplitude envelope,
    a little noise. Enough structure for codec / feature tests; peak about 0.5."""
    rng = rng if rng is not None else np.random.default_rng(0)
    n = int(round(seconds * sample_rate))
    t = np.arange(n) / sample_rate
    f = f0 * (1 + 0.1 * np.sin(2 * np.pi * 0.7 * t + rng.uniform(0, 6.28)))
    phase = 2 * np.pi * np.cumsum(f) / sample_rate
    wav = sum(np.sin(k * phase) / k for k in range(1, 12))
    env = 0.5 * (1 + np.sin(2 * np.pi * 4.0 * t + rng.uniform(0, 6.28)))
    wav = wav * env + 0.02 * rng.standard_normal(n)
    wav = wav / (np.abs(wav).max() + 1e-9) * 0.5
    return wav.astype(np.float32)


def write_wav(
    path: str | Path, wav: np.ndarray, sample_rate: int = SAMPLE_RATE, subtype: str = "PCM_16"
) -> Path:
    """Write ``wav`` (``[N]`` or ``[N, C]``) as a WAV file; returns the path."""
    import soundfile as sf

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), wav, sample_rate, subtype=subtype, format="WAV")
    return path


def write_truncated_wav(path: str | Path, seconds: float = 1.0, keep: float = 0.5) -> Path:
    """A WAV whose header promises more samples than the file holds (a cut-off copy)."""
    path = Path(path)
    write_wav(path, sine(440, seconds))
    data = path.read_bytes()
    path.write_bytes(data[: 44 + int((len(data) - 44) * keep)])
    return path


def write_corrupt_wav(path: str | Path) -> Path:
    """A ``.wav`` that is not audio at all."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunk" + bytes(range(40)))
    return path


def write_empty_wav(path: str | Path) -> Path:
    """A valid WAV header with zero samples."""
    return write_wav(path, np.zeros(0, dtype=np.float32))


def write_nan_wav(path: str | Path, seconds: float = 0.5) -> Path:
    """A float WAV full of NaN."""
    wav = np.full(int(seconds * SAMPLE_RATE), np.nan, dtype=np.float32)
    return write_wav(path, wav, subtype="FLOAT")


def make_data_dir(
    root: str | Path,
    n_utts: int = 4,
    n_speakers: int = 2,
    seconds: float | list[float] = 1.0,
    sample_rate: int = SAMPLE_RATE,
    lang: str = "en",
    seed: int = 0,
) -> Path:
    """A valid Kaldi data dir at ``root`` with ``speech_like`` audio in ``root/wav/``.

    Utterance ids are ``spk{j}-utt{i:03d}``; transcripts are short distinct sentences in
    ``lang`` (``en`` words, ``zh`` characters); ``text.<other>`` holds a dummy translation.
    """
    root = Path(root)
    rng = np.random.default_rng(seed)
    durs = seconds if isinstance(seconds, list) else [seconds] * n_utts
    if len(durs) != n_utts:
        raise ValueError("make_data_dir: len(seconds) must equal n_utts")
    en_words = ["red", "blue", "cat", "dog", "runs", "sleeps", "one", "two", "big", "small"]
    zh_chars = list("红蓝猫狗跑睡一二大小")
    wav_scp, text, utt2spk, trans = {}, {}, {}, {}
    for i in range(n_utts):
        utt = f"spk{i % n_speakers}-utt{i:03d}"
        path = write_wav(
            root / "wav" / f"{utt}.wav", speech_like(durs[i], sample_rate, rng), sample_rate
        )
        wav_scp[utt] = str(path.resolve())
        words = [en_words[(i + k) % 10] for k in range(3)] + [f"{i}"]
        chars = [zh_chars[(i + k) % 10] for k in range(3)]
        en = " ".join(words[:3]) + f" number {i}."
        zh = "".join(chars) + "。" + "".join(zh_chars[int(d)] for d in str(i)) + "。"
        text[utt], trans[utt] = (en, zh) if lang == "en" else (zh, en)
        utt2spk[utt] = f"spk{i % n_speakers}"
    other = "zh" if lang == "en" else "en"
    dd = DataDir(
        wav_scp=wav_scp,
        utt2spk=utt2spk,
        text=text,
        utt2lang=dict.fromkeys(utt2spk, lang),
        translations={other: trans},
    )
    return write_data_dir(dd, root, overwrite=True)


def make_tiny_corpus(out: str | Path, seed: int = 0, nj: int = 2) -> Path:
    """The mini bilingual corpus at ``--size tiny`` (needs espeak-ng; ~5 s on 2 cores)."""
    import dataclasses

    generate(out, dataclasses.replace(SIZES["tiny"], seed=seed), nj=nj)
    return Path(out)
