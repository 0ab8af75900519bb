"""DAC's losses without torchaudio: multi-scale mel, multi-resolution STFT, adversarial, features.

Mel filters come from librosa (Slaney, as DAC's); spectra from ``torch.stft``.
"""

from __future__ import annotations

import librosa
import torch
import torch.nn.functional as F
from torch import nn

from espnet_codec_lm.codec.modules import fp32


def stft_mag(wav: torch.Tensor, win: torch.Tensor) -> torch.Tensor:
    """|STFT| (hop = window / 4); sqrt(re^2 + im^2 + eps) has a cheaper, finite backward than
    complex ``abs``."""
    w = win.shape[0]
    spec = torch.view_as_real(torch.stft(wav, w, w // 4, window=win, return_complex=True))
    return (spec.square().sum(-1) + 1e-9).sqrt()


class MultiScaleMelLoss(nn.Module):
    """Sum over scales of L1 between log10 mel spectra (DAC: windows 32..2048, hop = win / 4)."""

    def __init__(self, sample_rate: int, windows: list[int], bins: list[int]) -> None:
        super().__init__()
        if len(windows) != len(bins):
            raise ValueError("mel_windows and mel_bins must have the same length")
        self.windows = list(windows)
        for w, m in zip(windows, bins):
            fb = librosa.filters.mel(sr=sample_rate, n_fft=w, n_mels=m, fmin=0.0, fmax=None)
            self.register_buffer(f"fb_{w}", torch.from_numpy(fb).float(), persistent=False)
            self.register_buffer(f"win_{w}", torch.hann_window(w), persistent=False)

    def mel(self, wav: torch.Tensor, w: int) -> torch.Tensor:
        """``wav [B, N]`` -> mel magnitude ``[B, bins, frames]`` at window ``w``."""
        return getattr(self, f"fb_{w}") @ stft_mag(wav, getattr(self, f"win_{w}"))

    def forward(self, wav_hat: torch.Tensor, wav: torch.Tensor) -> torch.Tensor:
        with fp32(wav):  # also under bf16 autocast
            wav_hat, wav = wav_hat.float(), wav.float()
            loss = wav.new_zeros(())
            for w in self.windows:
                a, b = self.mel(wav_hat, w), self.mel(wav, w)
                loss = loss + F.l1_loss(
                    torch.log10(a.clamp(min=1e-5)), torch.log10(b.clamp(min=1e-5))
                )
            return loss


class MultiResolutionSTFTLoss(nn.Module):
    """Spectral convergence + log-magnitude L1 at several windows (Parallel WaveGAN)."""

    def __init__(self, windows: list[int]) -> None:
        super().__init__()
        self.windows = list(windows)
        for w in windows:
            self.register_buffer(f"win_{w}", torch.hann_window(w), persistent=False)

    def forward(self, wav_hat: torch.Tensor, wav: torch.Tensor) -> torch.Tensor:
        with fp32(wav):  # also under bf16 autocast
            wav_hat, wav = wav_hat.float(), wav.float()
            loss = wav.new_zeros(())
            for w in self.windows:
                win = getattr(self, f"win_{w}")
                a, b = stft_mag(wav_hat, win), stft_mag(wav, win)
                sc = torch.linalg.norm(b - a) / torch.linalg.norm(b).clamp(min=1e-5)
                loss = (
                    loss
                    + sc
                    + F.l1_loss(torch.log(a.clamp(min=1e-5)), torch.log(b.clamp(min=1e-5)))
                )
            return loss / len(self.windows)


def generator_adv_loss(fake_logits: list[torch.Tensor], kind: str = "hinge") -> torch.Tensor:
    """Adversarial loss of the generator over all discriminator outputs (mean over them)."""
    terms = [
        F.relu(1 - f).mean() if kind == "hinge" else (1 - f).pow(2).mean() for f in fake_logits
    ]
    return torch.stack(terms).mean()


def discriminator_loss(
    real_logits: list[torch.Tensor], fake_logits: list[torch.Tensor], kind: str = "hinge"
) -> torch.Tensor:
    """Hinge or least-squares loss of the discriminators (mean over them)."""
    terms = []
    for r, f in zip(real_logits, fake_logits):
        if kind == "hinge":
            terms.append(F.relu(1 - r).mean() + F.relu(1 + f).mean())
        else:
            terms.append((1 - r).pow(2).mean() + f.pow(2).mean())
    return torch.stack(terms).mean()


def feature_matching_loss(
    real_feats: list[list[torch.Tensor]], fake_feats: list[list[torch.Tensor]]
) -> torch.Tensor:
    """L1 between intermediate discriminator features of real and generated audio."""
    terms = [
        F.l1_loss(f, r.detach()) for rs, fs in zip(real_feats, fake_feats) for r, f in zip(rs, fs)
    ]
    return torch.stack(terms).mean()
