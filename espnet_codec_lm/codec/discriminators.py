"""DAC's discriminator set: multi-period and multi-scale (ESPnet's HiFi-GAN modules) plus a
multi-band multi-resolution STFT discriminator written here (ESPnet's imports torchaudio).

Each discriminator returns a list of feature maps whose last element is the logit map; the set
returns one such list per sub-discriminator.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import weight_norm

from espnet_codec_lm.codec.config import DiscriminatorConfig
from espnet_codec_lm.codec.modules import fp32


class BandSTFTDiscriminator(nn.Module):
    """One STFT resolution: complex spectrogram (real, imag channels) split into frequency bands,
    a 2D conv stack per band (shared depth, separate weights), bands concatenated for the last
    convs (DAC's ``MRD`` with bands)."""

    def __init__(self, window: int, bands: list[float], channels: int) -> None:
        super().__init__()
        self.window = window
        self.register_buffer("win", torch.hann_window(window), persistent=False)
        n_bins = window // 2 + 1
        self.bands = [(int(a * n_bins), int(b * n_bins)) for a, b in zip(bands[:-1], bands[1:])]
        ch = channels

        def stack() -> nn.ModuleList:
            return nn.ModuleList(
                [
                    weight_norm(nn.Conv2d(2, ch, (3, 9), padding=(1, 4))),
                    weight_norm(nn.Conv2d(ch, ch, (3, 9), (1, 2), padding=(1, 4))),
                    weight_norm(nn.Conv2d(ch, ch, (3, 9), (1, 2), padding=(1, 4))),
                    weight_norm(nn.Conv2d(ch, ch, (3, 9), (1, 2), padding=(1, 4))),
                    weight_norm(nn.Conv2d(ch, ch, (3, 3), padding=(1, 1))),
                ]
            )

        self.band_convs = nn.ModuleList([stack() for _ in self.bands])
        self.post = weight_norm(nn.Conv2d(ch, 1, (3, 3), padding=(1, 1)))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """``x [B, 1, N]`` -> feature maps, logits last."""
        with fp32(x):  # the STFT in fp32 (also under bf16 autocast); the convs autocast
            spec = torch.stft(
                x[:, 0].float(), self.window, self.window // 4, window=self.win, return_complex=True
            )
            spec = torch.view_as_real(spec).permute(0, 3, 2, 1)  # [B, 2, frames, bins]
        feats, outs = [], []
        for (lo, hi), convs in zip(self.bands, self.band_convs):
            h = spec[..., lo:hi]
            for conv in convs:
                h = F.leaky_relu(conv(h), 0.1)
                feats.append(h)
            outs.append(h)
        logits = self.post(torch.cat(outs, dim=-1))
        return [*feats, logits]


class MultiBandSTFTDiscriminator(nn.Module):
    """A :class:`BandSTFTDiscriminator` per window length."""

    def __init__(self, windows: list[int], bands: list[float], channels: int) -> None:
        super().__init__()
        self.discs = nn.ModuleList([BandSTFTDiscriminator(w, bands, channels) for w in windows])

    def forward(self, x: torch.Tensor) -> list[list[torch.Tensor]]:
        return [d(x) for d in self.discs]


class CodecDiscriminator(nn.Module):
    """Multi-period + multi-scale + multi-band STFT discriminators (the families switched on in
    the config)."""

    def __init__(self, cfg: DiscriminatorConfig) -> None:
        super().__init__()
        from espnet2.gan_tts.hifigan.hifigan import (
            HiFiGANMultiPeriodDiscriminator,
            HiFiGANMultiScaleDiscriminator,
        )

        self.families = nn.ModuleList()
        if cfg.periods:
            params = {
                "in_channels": 1,
                "out_channels": 1,
                "kernel_sizes": [5, 3],
                "channels": cfg.period_channels,
                "downsample_scales": [3, 3, 3, 3, 1],
                # HiFi-GAN's 1,024 at 32 channels; scaled down with narrower discriminators
                "max_downsample_channels": min(1024, 32 * cfg.period_channels),
                "bias": True,
                "nonlinear_activation": "LeakyReLU",
                "nonlinear_activation_params": {"negative_slope": 0.1},
                "use_weight_norm": True,
                "use_spectral_norm": False,
            }
            self.families.append(
                HiFiGANMultiPeriodDiscriminator(list(cfg.periods), discriminator_params=params)
            )
        if cfg.scales:
            params = {
                "in_channels": 1,
                "out_channels": 1,
                "kernel_sizes": [15, 41, 5, 3],
                "channels": cfg.scale_channels,
                "max_downsample_channels": min(1024, 8 * cfg.scale_channels),
                "max_groups": 16,
                "bias": True,
                "downsample_scales": [2, 2, 4, 4, 1],
                "nonlinear_activation": "LeakyReLU",
                "nonlinear_activation_params": {"negative_slope": 0.1},
            }
            self.families.append(
                HiFiGANMultiScaleDiscriminator(cfg.scales, discriminator_params=params)
            )
        if cfg.stft_windows:
            self.families.append(
                MultiBandSTFTDiscriminator(
                    list(cfg.stft_windows), list(cfg.bands), cfg.stft_channels
                )
            )

    def forward(self, wav: torch.Tensor) -> list[list[torch.Tensor]]:
        """``wav [B, N]`` -> one list of feature maps (logits last) per sub-discriminator."""
        x = wav[:, None]
        out: list[list[torch.Tensor]] = []
        for fam in self.families:
            out.extend(fam(x))
        return out
