"""Resynthesis metrics: mel distance, SI-SNR, PESQ (``pesq`` package), STOI (``pystoi``).

All take 1-D float arrays at the same sample rate; the hypothesis is cut or zero-padded to the
reference length first (a codec output is a whole number of frames long).
"""

from __future__ import annotations

import math

import numpy as np


def align(ref: np.ndarray, hyp: np.ndarray) -> np.ndarray:
    """``hyp`` trimmed or zero-padded to ``len(ref)``."""
    if len(hyp) >= len(ref):
        return hyp[: len(ref)]
    return np.pad(hyp, (0, len(ref) - len(hyp)))


def log_mel(wav: np.ndarray, sr: int, n_fft: int = 1024, hop: int = 256, n_mels: int = 80):
    """log10 mel magnitude ``[n_mels, frames]`` (floor 1e-5)."""
    import librosa

    spec = np.abs(librosa.stft(wav.astype(np.float32), n_fft=n_fft, hop_length=hop))
    fb = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels)
    return np.log10(np.maximum(fb @ spec, 1e-5))


def mel_distance(ref: np.ndarray, hyp: np.ndarray, sr: int) -> float:
    """Mean absolute difference of 80-bin log10 mel spectra (window 1024, hop 256)."""
    hyp = align(ref, hyp)
    return float(np.mean(np.abs(log_mel(ref, sr) - log_mel(hyp, sr))))


def si_snr(ref: np.ndarray, hyp: np.ndarray, eps: float = 1e-8) -> float:
    """Scale-invariant SNR in dB (both signals mean-removed)."""
    hyp = align(ref, hyp).astype(np.float64)
    ref = ref.astype(np.float64)
    ref, hyp = ref - ref.mean(), hyp - hyp.mean()
    target = (hyp @ ref) / (ref @ ref + eps) * ref
    noise = hyp - target
    return float(10 * np.log10((target @ target + eps) / (noise @ noise + eps)))


def pesq_score(ref: np.ndarray, hyp: np.ndarray, sr: int, mode: str = "wb") -> float:
    """ITU-T P.862 PESQ (wide-band at 16 kHz by default); NaN when PESQ finds no speech."""
    from pesq import pesq

    try:
        return float(pesq(sr, ref.astype(np.float64), align(ref, hyp).astype(np.float64), mode))
    except Exception:  # the package raises on utterances without voiced frames
        return math.nan


def stoi_score(ref: np.ndarray, hyp: np.ndarray, sr: int) -> float:
    """Short-time objective intelligibility (0..1)."""
    from pystoi import stoi

    return float(stoi(ref, align(ref, hyp), sr, extended=False))
