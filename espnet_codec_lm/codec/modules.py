"""Encoders and decoders behind the codec: ESPnet's SEANet pair and a frame-rate spectral pair.

SEANet (``espnet2.gan_codec.shared.{encoder,decoder}.seanet``) is the SoundStream / EnCodec
convolutional stack that runs at the sample rate; the paper's configuration uses it. The
spectral pair runs every layer at the frame rate (50 Hz): an STFT front end and ConvNeXt blocks
in the encoder, ConvNeXt blocks and an inverse-STFT head (magnitude and phase per frame, as in
Vocos) in the decoder. On 2 CPU cores it trains about an order of magnitude more steps per hour
than SEANet of the same width, which is what lets the mini recipe's codec learn in hours.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from espnet_codec_lm.codec.config import DecoderConfig, EncoderConfig


class ConvNeXtBlock(nn.Module):
    """Depthwise conv (kernel 7) -> LayerNorm -> pointwise MLP (x3), residual, layer scale."""

    def __init__(self, dim: int, layer_scale: float = 1e-2) -> None:
        super().__init__()
        self.dwconv = nn.Conv1d(dim, dim, 7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim)
        self.pw1 = nn.Linear(dim, 3 * dim)
        self.pw2 = nn.Linear(3 * dim, dim)
        self.gamma = nn.Parameter(torch.full((dim,), layer_scale))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x [B, C, T]`` -> same shape."""
        y = self.dwconv(x).transpose(1, 2)
        y = self.pw2(F.gelu(self.pw1(self.norm(y))))
        return x + (self.gamma * y).transpose(1, 2)


class ConvNeXtStack(nn.Module):
    """Input conv, ``layers`` ConvNeXt blocks, final LayerNorm, linear output (all at 50 Hz)."""

    def __init__(self, in_dim: int, hidden: int, layers: int, out_dim: int) -> None:
        super().__init__()
        self.inp = nn.Conv1d(in_dim, hidden, 7, padding=3)
        self.norm_in = nn.LayerNorm(hidden)
        self.blocks = nn.ModuleList([ConvNeXtBlock(hidden) for _ in range(layers)])
        self.norm_out = nn.LayerNorm(hidden)
        self.out = nn.Linear(hidden, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x [B, in_dim, T]`` -> ``[B, out_dim, T]``."""
        x = self.norm_in(self.inp(x).transpose(1, 2)).transpose(1, 2)
        for blk in self.blocks:
            x = blk(x)
        return self.out(self.norm_out(x.transpose(1, 2))).transpose(1, 2)


def fp32(x: torch.Tensor):
    """Autocast switched off on ``x``'s device: what runs inside stays fp32 (STFTs, mel
    filters, the quantiser's EMA) when the codec trainer autocasts the networks to bf16."""
    return torch.autocast(x.device.type, enabled=False)


def frame_stft(wav: torch.Tensor, n_fft: int, hop: int) -> torch.Tensor:
    """STFT with "same" framing: ``wav [B, N]`` (N a multiple of hop) -> ``[B, F, N // hop]``,
    frame ``t`` centred on samples ``[t*hop, (t+1)*hop)``."""
    pad = (n_fft - hop) // 2
    with fp32(wav):
        wav = wav.float()
        x = F.pad(wav[:, None], (pad, n_fft - hop - pad), mode="reflect")[:, 0]
        win = torch.hann_window(n_fft, device=wav.device, dtype=wav.dtype)
        return torch.stft(x, n_fft, hop, window=win, center=False, return_complex=True)


class ISTFT(nn.Module):
    """Inverse STFT with "same" framing (Vocos): ``T`` frames -> exactly ``T * hop`` samples.

    ``torch.istft`` needs centre padding on both ends; overlap-add by ``F.fold`` lets us trim the
    ``(n_fft - hop) / 2`` samples each side ourselves and normalise by the summed squared window.
    """

    def __init__(self, n_fft: int, hop: int) -> None:
        super().__init__()
        self.n_fft, self.hop = n_fft, hop
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)

    def forward(self, spec: torch.Tensor) -> torch.Tensor:
        """``spec [B, n_fft//2+1, T]`` complex -> ``[B, T * hop]``."""
        b, _, t = spec.shape
        frames = torch.fft.irfft(spec, n=self.n_fft, dim=1) * self.window[None, :, None]
        out_len = (t - 1) * self.hop + self.n_fft
        y = F.fold(frames, (1, out_len), (1, self.n_fft), stride=(1, self.hop))[:, 0, 0]
        wsq = self.window.square().expand(1, t, -1).transpose(1, 2)
        env = F.fold(wsq, (1, out_len), (1, self.n_fft), stride=(1, self.hop))[0, 0, 0]
        pad = (self.n_fft - self.hop) // 2
        y = y[:, pad : pad + t * self.hop]
        env = env[pad : pad + t * self.hop]
        return y / env.clamp(min=1e-8)


class SpectralEncoder(nn.Module):
    """Log-magnitude STFT frames -> ConvNeXt stack -> latent ``[B, D, T]``."""

    def __init__(self, cfg: EncoderConfig, hop: int, latent_dim: int) -> None:
        super().__init__()
        self.n_fft, self.hop = cfg.n_fft, hop
        self.stack = ConvNeXtStack(cfg.n_fft // 2 + 1, cfg.hidden, cfg.layers, latent_dim)

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        """``wav [B, N]`` (N a multiple of hop) -> ``[B, D, N // hop]``."""
        mag = frame_stft(wav, self.n_fft, self.hop).abs()
        return self.stack(torch.log(mag + 1e-5))


class ISTFTDecoder(nn.Module):
    """Latent ``[B, D, T]`` -> ConvNeXt stack -> log-magnitude and phase -> inverse STFT."""

    def __init__(self, cfg: DecoderConfig, hop: int, latent_dim: int) -> None:
        super().__init__()
        self.bins = cfg.n_fft // 2 + 1
        self.stack = ConvNeXtStack(latent_dim, cfg.hidden, cfg.layers, 2 * self.bins)
        self.istft = ISTFT(cfg.n_fft, hop)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """``z [B, D, T]`` -> ``[B, T * hop]``."""
        h = self.stack(z)
        with fp32(h):  # the inverse STFT in fp32 (also under bf16 autocast)
            h = h.float()
            log_mag, phase = h[:, : self.bins], h[:, self.bins :]
            mag = torch.exp(log_mag.clamp(max=6.0))  # clamp: no overflow early in training
            return self.istft(torch.polar(mag, phase))


class SEANetEncoderWrapper(nn.Module):
    """ESPnet's SEANet encoder: ``[B, N]`` -> ``[B, D, N // prod(ratios)]``."""

    def __init__(self, cfg: EncoderConfig, hop: int, latent_dim: int) -> None:
        super().__init__()
        from espnet2.gan_codec.shared.encoder.seanet import SEANetEncoder

        _check_ratios(cfg.ratios, hop)
        self.net = SEANetEncoder(
            channels=1,
            dimension=latent_dim,
            n_filters=cfg.channels,
            n_residual_layers=cfg.n_residual_layers,
            ratios=list(cfg.ratios),
            lstm=cfg.lstm,
        )

    def forward(self, wav: torch.Tensor) -> torch.Tensor:
        return self.net(wav[:, None])


class SEANetDecoderWrapper(nn.Module):
    """ESPnet's SEANet decoder: ``[B, D, T]`` -> ``[B, T * prod(ratios)]``."""

    def __init__(self, cfg: DecoderConfig, hop: int, latent_dim: int) -> None:
        super().__init__()
        from espnet2.gan_codec.shared.decoder.seanet import SEANetDecoder

        _check_ratios(cfg.ratios, hop)
        self.net = SEANetDecoder(
            channels=1,
            dimension=latent_dim,
            n_filters=cfg.channels,
            n_residual_layers=cfg.n_residual_layers,
            ratios=list(cfg.ratios),
            lstm=cfg.lstm,
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)[:, 0]


def _check_ratios(ratios: list[int], hop: int) -> None:
    prod = 1
    for r in ratios:
        prod *= r
    if prod != hop:
        raise ValueError(f"SEANet ratios {ratios} give a hop of {prod}, config says {hop}")


def build_encoder(cfg: EncoderConfig, hop: int, latent_dim: int) -> nn.Module:
    """The encoder named by ``cfg.type``."""
    if cfg.type == "spectral":
        return SpectralEncoder(cfg, hop, latent_dim)
    return SEANetEncoderWrapper(cfg, hop, latent_dim)


def build_decoder(cfg: DecoderConfig, hop: int, latent_dim: int) -> nn.Module:
    """The decoder named by ``cfg.type``."""
    if cfg.type == "istft":
        return ISTFTDecoder(cfg, hop, latent_dim)
    return SEANetDecoderWrapper(cfg, hop, latent_dim)
