"""Typed configs of the codec: model (encoder, quantizer, decoder), discriminators, losses, training.

The paper's figures (SPEC section 1, Appendix A) live in
``egs2/TEMPLATE/codec_lm1/conf/codec/paper.yaml``; ``debug.yaml`` is the CPU-sized codec the mini
recipe trains. Defaults here follow the paper where it gives a number.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Optional

from espnet_codec_lm.config import ConfigError


@dataclass
class EncoderConfig:
    """Waveform -> latent frames at ``sample_rate / hop_length`` Hz.

    ``seanet``: ESPnet's SEANet convolutional encoder (SoundStream / EnCodec), strides ``ratios``.
    ``spectral``: log-magnitude STFT (window ``n_fft``, hop = the codec hop) then ConvNeXt blocks at
    the frame rate; much cheaper on CPU (see doc/codec.md).
    """

    type: Literal["seanet", "spectral"] = "seanet"
    channels: int = 32  # seanet: n_filters of the first conv (doubles at each stride)
    ratios: list[int] = field(default_factory=lambda: [8, 5, 4, 2])
    n_residual_layers: int = 1
    lstm: int = 2
    hidden: int = 256  # spectral: ConvNeXt width
    layers: int = 4  # spectral: ConvNeXt blocks
    n_fft: int = 640  # spectral: analysis window


@dataclass
class DecoderConfig:
    """Latent frames -> waveform.

    ``seanet``: ESPnet's SEANet transposed-convolution decoder. ``istft``: ConvNeXt blocks at the
    frame rate predicting STFT magnitude and phase, then an inverse STFT (Vocos-style head).
    """

    type: Literal["seanet", "istft"] = "seanet"
    channels: int = 32
    ratios: list[int] = field(default_factory=lambda: [8, 5, 4, 2])
    n_residual_layers: int = 1
    lstm: int = 2
    hidden: int = 256
    layers: int = 8
    n_fft: int = 1280  # istft: synthesis window (4 x hop)


@dataclass
class QuantizerConfig:
    """Residual VQ with EMA codebooks, k-means initialisation and dead-code replacement.

    ``euclidean``: codes in the latent space (SoundStream / EnCodec); ``factorized``: DAC's
    L2-normalised codes in a ``codebook_dim``-dimensional projection of each residual.
    """

    kind: Literal["euclidean", "factorized"] = "euclidean"
    num_codebooks: int = 8
    codebook_size: int = 1024
    codebook_dim: int = 8  # factorized: codes live on the unit sphere of this many dimensions
    ema_decay: float = 0.99
    kmeans_iters: int = 10  # k-means initialisation of each codebook on the first batch
    # replace a code not chosen in the last this-many frames quantised by its codebook
    dead_code_frames: int = 8192
    # quantizer dropout: each draw picks a target bandwidth uniformly from this list (kbps)
    bandwidths: list[float] = field(default_factory=lambda: [0.5, 1.0, 1.5, 2.0, 4.0])
    dropout_per_sample: bool = True  # one draw per training segment (else one per step)


@dataclass
class CodecModelConfig:
    """The generator: what ``load_codec`` rebuilds from ``config.yaml``."""

    sample_rate: int = 16000
    hop_length: int = 320  # 50 frames/s
    latent_dim: int = 128
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    decoder: DecoderConfig = field(default_factory=DecoderConfig)
    quantizer: QuantizerConfig = field(default_factory=QuantizerConfig)


@dataclass
class DiscriminatorConfig:
    """DAC's three discriminator families; an empty list / 0 switches one off."""

    periods: list[int] = field(default_factory=lambda: [2, 3, 5, 7, 11])  # multi-period
    period_channels: int = 32
    scales: int = 3  # multi-scale (waveform at 1, 1/2, 1/4 rate)
    scale_channels: int = 128
    stft_windows: list[int] = field(default_factory=lambda: [2048, 1024, 512])  # multi-band STFT
    stft_channels: int = 32
    # band edges as fractions of the Nyquist frequency (DAC)
    bands: list[float] = field(default_factory=lambda: [0.0, 0.1, 0.25, 0.5, 0.75, 1.0])


@dataclass
class LossConfig:
    """Loss weights (DAC defaults) and the reconstruction-only warm-up."""

    mel_weight: float = 15.0
    mel_windows: list[int] = field(default_factory=lambda: [32, 64, 128, 256, 512, 1024, 2048])
    mel_bins: list[int] = field(default_factory=lambda: [5, 10, 20, 40, 80, 160, 320])
    stft_weight: float = 0.0  # multi-resolution STFT (spectral convergence + log magnitude)
    stft_windows: list[int] = field(default_factory=lambda: [512, 1024, 2048])
    adv_weight: float = 1.0
    adv_type: Literal["hinge", "ls"] = "hinge"
    feat_weight: float = 2.0
    commit_weight: float = 0.25
    # steps of reconstruction-only training before the discriminators are switched on
    adv_start_step: int = 0


@dataclass
class OptimConfig:
    """AdamW for generator and discriminator with exponential decay."""

    lr: float = 2e-4
    betas: list[float] = field(default_factory=lambda: [0.8, 0.99])
    weight_decay: float = 0.01
    lr_decay: float = 0.999  # multiplied into the LR every ``lr_decay_every`` steps
    lr_decay_every: int = 1000
    grad_clip: float = 1000.0


@dataclass
class CodecDataConfig:
    """Where training audio comes from and how segments are cut and augmented."""

    train: str = ""  # a Kaldi data dir (wav.scp [+ segments]) or a wav.scp file
    # more training audio: further data dirs or wav.scp files (e.g. data/train/wav_tgt.scp)
    train_extra: list[str] = field(default_factory=list)
    valid: str = ""  # same, used for the periodic validation mel distance
    segment_samples: int = 24000
    batch_size: int = 6
    max_utts: int = 0  # 0 = all; otherwise the first N utterances (quick runs)
    aug_prob: float = 0.2
    snr_range: list[float] = field(default_factory=lambda: [6.0, 20.0])
    noise_dir: Optional[str] = None  # *.wav noises; synthetic coloured noise when None
    rir_dir: Optional[str] = None  # *.wav impulse responses; synthetic RIRs when None


@dataclass
class CodecTrainConfig:
    """Everything ``codec_train`` needs; written as ``config.yaml`` beside the checkpoints."""

    model: CodecModelConfig = field(default_factory=CodecModelConfig)
    discriminator: DiscriminatorConfig = field(default_factory=DiscriminatorConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    data: CodecDataConfig = field(default_factory=CodecDataConfig)
    seed: int = 0
    max_steps: int = 1_600_000
    log_every: int = 50
    valid_every: int = 1000
    ckpt_every_s: float = 300.0  # checkpoint at most this often (and at the end)
    keep_snapshots: int = 3  # numbered weight snapshots kept beside ``last``
    num_threads: int = 1
    # where training runs: auto = CUDA when available (under torchrun: the GPU of LOCAL_RANK)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    # bf16: autocast the generator and discriminators on CUDA; the STFT / mel losses and the
    # quantiser (nearest code, EMA) stay fp32. On CPU training is always fp32.
    precision: Literal["fp32", "bf16"] = "fp32"

    def __post_init__(self) -> None:
        counts = {
            "max_steps": (self.max_steps, 1),
            "log_every": (self.log_every, 1),
            "valid_every": (self.valid_every, 1),
            "keep_snapshots": (self.keep_snapshots, 1),
            "num_threads": (self.num_threads, 1),
            "optim.lr_decay_every": (self.optim.lr_decay_every, 1),
            "loss.adv_start_step": (self.loss.adv_start_step, 0),
        }
        for key, (value, least) in counts.items():
            if value < least:
                raise ConfigError(f"{key} must be >= {least}, got {value}")
        if self.ckpt_every_s < 0:
            raise ConfigError(f"ckpt_every_s must be >= 0, got {self.ckpt_every_s}")
