"""Helpers of the codec tests: tiny model configs and small data dirs of synthetic audio."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from espnet_codec_lm.codec.config import (
    CodecModelConfig,
    CodecTrainConfig,
    DecoderConfig,
    DiscriminatorConfig,
    EncoderConfig,
    LossConfig,
    QuantizerConfig,
)

SR = 16000


def tiny_model_config(kind: str = "spectral", codebook_size: int = 64) -> CodecModelConfig:
    """A codec small enough for a test: 50 Hz frames, 8 codebooks of ``codebook_size``."""
    q = QuantizerConfig(num_codebooks=8, codebook_size=codebook_size, dead_code_frames=256)
    if kind == "seanet":
        enc = EncoderConfig(type="seanet", channels=4, lstm=0)
        dec = DecoderConfig(type="seanet", channels=4, lstm=0)
    else:
        enc = EncoderConfig(type="spectral", hidden=32, layers=1, n_fft=640)
        dec = DecoderConfig(type="istft", hidden=48, layers=2, n_fft=1280)
    return CodecModelConfig(latent_dim=16, encoder=enc, decoder=dec, quantizer=q)


def tiny_train_config(adversarial: bool = False) -> CodecTrainConfig:
    """Training config around :func:`tiny_model_config` (tiny discriminators when asked)."""
    cfg = CodecTrainConfig(model=tiny_model_config())
    cfg.discriminator = DiscriminatorConfig(
        periods=[2, 3],
        period_channels=4,
        scales=1,
        scale_channels=16,
        stft_windows=[256],
        stft_channels=4,
    )
    cfg.loss = LossConfig(
        mel_windows=[64, 256, 1024],
        mel_bins=[10, 40, 80],
        adv_weight=1.0 if adversarial else 0.0,
        feat_weight=2.0 if adversarial else 0.0,
    )
    cfg.optim.lr = 3e-3
    cfg.data.segment_samples = 3200
    cfg.data.batch_size = 4
    cfg.log_every = 2
    cfg.valid_every = 2
    return cfg


def speechlike(n: int, rng: np.random.Generator, f0: float | None = None) -> np.ndarray:
    """A harmonic tone with a gliding pitch and syllable-like amplitude envelope."""
    t = np.arange(n) / SR
    f0 = f0 or rng.uniform(90, 220)
    pitch = f0 * (1 + 0.1 * np.sin(2 * np.pi * rng.uniform(0.5, 2) * t))
    phase = 2 * np.pi * np.cumsum(pitch) / SR
    wav = sum(np.sin(k * phase) / k for k in range(1, 8))
    env = 0.5 * (1 + np.sin(2 * np.pi * rng.uniform(2, 5) * t)) ** 2
    return (0.1 * wav * env + 0.003 * rng.standard_normal(n)).astype(np.float32)


def write_data_dir(root: Path, n_utts: int = 4, seconds: float = 0.6, seed: int = 0) -> Path:
    """A Kaldi data dir (``wav.scp``) of ``n_utts`` synthetic utterances."""
    rng = np.random.default_rng(seed)
    (root / "wav").mkdir(parents=True, exist_ok=True)
    lines = []
    for i in range(n_utts):
        path = root / "wav" / f"utt{i:02d}.wav"
        sf.write(path, speechlike(int(seconds * SR) + 37 * i, rng), SR)
        lines.append(f"utt{i:02d} {path}")
    (root / "wav.scp").write_text("\n".join(lines) + "\n")
    return root
