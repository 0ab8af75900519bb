"""Training segments: random crops of in-memory audio, 20% with noise and/or reverberation.

The paper adds noise and reverberation to 20% of the segments at an SNR drawn from 6-20 dB. The
codec reproduces what it is given, so the augmented segment is both input and target: the point
is robustness to real recordings, not denoising. Noise and impulse responses come from
directories of WAVs when configured; otherwise they are synthesised (coloured noise with a random
spectral slope; exponentially decaying noise tails with an RT60 of 0.15-0.8 s as RIRs).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.signal import fftconvolve

from espnet_codec_lm.codec.config import CodecDataConfig


def synthetic_noise(n: int, rng: np.random.Generator) -> np.ndarray:
    """Coloured Gaussian noise: power spectrum ~ f^-alpha, alpha in [0, 2] (white to brown)."""
    alpha = rng.uniform(0.0, 2.0)
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.arange(len(spec), dtype=np.float64)
    f[0] = 1.0
    noise = np.fft.irfft(spec / f ** (alpha / 2), n=n)
    return (noise / (noise.std() + 1e-9)).astype(np.float32)


def synthetic_rir(sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """A direct path followed by an exponentially decaying noise tail (random RT60)."""
    rt60 = rng.uniform(0.15, 0.8)
    n = int(rt60 * sample_rate)
    t = np.arange(n) / sample_rate
    tail = rng.standard_normal(n) * np.exp(-6.9 * t / rt60)  # -60 dB at rt60
    delay = int(rng.uniform(0.001, 0.01) * sample_rate)
    rir = np.zeros(n + delay)
    rir[0] = 1.0
    rir[delay:] += 0.3 * tail
    return (rir / np.abs(rir).max()).astype(np.float32)


def _load_dir(path: str | None, sample_rate: int) -> list[np.ndarray]:
    if not path:
        return []
    import soundfile as sf

    files = sorted(Path(path).rglob("*.wav"))
    if not files:
        raise ValueError(f"{path}: no *.wav files")
    out = []
    for f in files:
        wav, rate = sf.read(str(f), dtype="float32", always_2d=True)
        if rate != sample_rate:
            raise ValueError(f"{f}: sample rate {rate} Hz, expected {sample_rate} Hz")
        out.append(wav.mean(1))
    return out


class Augmenter:
    """Adds noise (SNR in ``snr_range``) and/or reverberation to a segment."""

    def __init__(self, cfg: CodecDataConfig, sample_rate: int) -> None:
        self.cfg, self.sr = cfg, sample_rate
        self.noises = _load_dir(cfg.noise_dir, sample_rate)
        self.rirs = _load_dir(cfg.rir_dir, sample_rate)

    def noise(self, n: int, rng: np.random.Generator) -> np.ndarray:
        if not self.noises:
            return synthetic_noise(n, rng)
        src = self.noises[rng.integers(len(self.noises))]
        if len(src) < n:
            src = np.tile(src, n // len(src) + 1)
        off = rng.integers(0, len(src) - n + 1)
        return src[off : off + n]

    def rir(self, rng: np.random.Generator) -> np.ndarray:
        if not self.rirs:
            return synthetic_rir(self.sr, rng)
        return self.rirs[rng.integers(len(self.rirs))]

    def __call__(self, seg: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Reverb, noise or both (equally likely) on ``seg``; peak kept at most 0.99."""
        kind = rng.integers(3)  # 0 noise, 1 reverb, 2 both
        out = seg.astype(np.float32)
        if kind in (1, 2):
            wet = fftconvolve(out, self.rir(rng))[: len(out)]
            out = wet * (np.abs(out).max() / (np.abs(wet).max() + 1e-9))
        if kind in (0, 2):
            snr = rng.uniform(*self.cfg.snr_range)
            p_sig = float(np.mean(out**2)) + 1e-9
            noise = self.noise(len(out), rng)
            p_noise = float(np.mean(noise**2)) + 1e-9
            out = out + noise * np.sqrt(p_sig / (p_noise * 10 ** (snr / 10)))
        peak = np.abs(out).max()
        return (out * (0.99 / peak) if peak > 0.99 else out).astype(np.float32)


class SegmentSampler:
    """Random fixed-length batches from utterances held in memory (the mini corpus fits)."""

    def __init__(
        self, audio: list[np.ndarray], cfg: CodecDataConfig, sample_rate: int, seed: int
    ) -> None:
        if not audio:
            raise ValueError("no training audio")
        self.audio, self.cfg = audio, cfg
        self.rng = np.random.default_rng(seed)
        self.augment = Augmenter(cfg, sample_rate)
        lengths = np.array([len(a) for a in audio], dtype=np.float64)
        self.p = lengths / lengths.sum()  # longer utterances hold more segments

    def segment(self) -> np.ndarray:
        n = self.cfg.segment_samples
        wav = self.audio[self.rng.choice(len(self.audio), p=self.p)]
        if len(wav) <= n:
            seg = np.zeros(n, np.float32)
            off = self.rng.integers(0, n - len(wav) + 1)
            seg[off : off + len(wav)] = wav
        else:
            off = self.rng.integers(0, len(wav) - n + 1)
            seg = wav[off : off + n].copy()
        if self.rng.random() < self.cfg.aug_prob:
            seg = self.augment(seg, self.rng)
        return seg

    def batch(self) -> np.ndarray:
        """``[batch_size, segment_samples]`` float32."""
        return np.stack([self.segment() for _ in range(self.cfg.batch_size)])

    def state(self) -> dict:
        return self.rng.bit_generator.state

    def set_state(self, state: dict) -> None:
        self.rng.bit_generator.state = state
