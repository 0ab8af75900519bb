"""Typed configs of the USTokenizer: frozen front end, trainable encoder / VQ / decoder, the
frozen text LLM of the text loss, losses, data and training.

The paper-scale figures (Whisper-medium, stride 2, one codebook of 1,024, loss weights 1 / 45 / 5
of the public config) live in ``egs2/TEMPLATE/codec_lm1/conf/ustokenizer/paper.yaml``;
``mini.yaml`` is the CPU-sized tokenizer of the mini recipe (doc/dualspeechlm.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from espnet_codec_lm.codec.config import OptimConfig, QuantizerConfig
from espnet_codec_lm.config import ConfigError


@dataclass
class FrontEndConfig:
    """The frozen speech encoder whose features are tokenised (and reconstructed).

    ``logmel``: Whisper's own log-mel input features (log10, 8 decades of dynamic range,
    ``(x + 4) / 4``) at 100 Hz; no weights. ``whisper``: the encoder of a local Hugging Face
    Whisper checkpoint (``path``), frozen, 50 Hz.
    """

    kind: Literal["logmel", "whisper"] = "logmel"
    n_mels: int = 80  # logmel
    path: str = ""  # whisper: local directory (WhisperModel + its feature extractor)
    dtype: Literal["float32", "bfloat16", "float16"] = "float32"  # whisper weights


@dataclass
class EncoderConfig:
    """Front-end features -> latent frames at 25 Hz.

    ``strides``: one conv per entry, each dividing the frame rate (their product is the total
    stride: ``[2]`` for Whisper's 50 Hz, ``[2, 2]`` for log-mel's 100 Hz); then ``layers``
    Transformer blocks of width ``dim``.
    """

    strides: list[int] = field(default_factory=lambda: [2, 2])
    dim: int = 192
    layers: int = 2
    heads: int = 4
    ff_mult: int = 2
    dropout: float = 0.0


@dataclass
class TextLLMConfig:
    """The frozen text LLM of the text loss: a local Hugging Face causal LM directory."""

    path: str = ""
    # its tokenizer: "" = the one in ``path`` (HF or the toolkit's BPE), else a tokenizer dir
    # or a sentencepiece .model (espnet_codec_lm.lm.tokenizer.load_text_tokenizer)
    tokenizer: str = ""
    append_eos: bool = True  # the transcript ends with the LLM's end-of-text id (when it has one)
    dtype: Literal["float32", "bfloat16", "float16"] = "float32"


@dataclass
class USTokenizerModelConfig:
    """What ``load_ustokenizer`` rebuilds from ``config.yaml``."""

    sample_rate: int = 16000
    frontend: FrontEndConfig = field(default_factory=FrontEndConfig)
    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    decoder_layers: int = 2  # Transformer blocks of the feature decoder (width encoder.dim)
    latent_dim: int = 64  # where the codebook lives
    # one codebook (the paper's 1,024); num_codebooks must stay 1 (the quantiser is the codec's)
    quantizer: QuantizerConfig = field(
        default_factory=lambda: QuantizerConfig(num_codebooks=1, codebook_size=1024)
    )
    text_llm: TextLLMConfig = field(default_factory=TextLLMConfig)

    def __post_init__(self) -> None:
        if self.quantizer.num_codebooks != 1:
            raise ConfigError(
                f"quantizer.num_codebooks must be 1 (one USToken per frame), "
                f"got {self.quantizer.num_codebooks}"
            )
        if not self.encoder.strides or any(s < 1 for s in self.encoder.strides):
            raise ConfigError(f"encoder.strides must be >= 1, got {self.encoder.strides}")
        if self.encoder.dim % self.encoder.heads:
            raise ConfigError(
                f"encoder.dim ({self.encoder.dim}) must be a multiple of heads ({self.encoder.heads})"
            )


@dataclass
class USTokenizerLossConfig:
    """Loss weights; the public config's 1 / 45 / 5."""

    commit_weight: float = 1.0
    recon_weight: float = 45.0
    text_weight: float = 5.0


@dataclass
class USTokenizerDataConfig:
    """Kaldi data dirs with ``wav.scp`` [+ ``segments``] and ``text``; whole utterances."""

    train: str = ""
    valid: str = ""
    batch_size: int = 8
    max_seconds: float = 20.0  # longer training utterances are skipped (logged)
    max_utts: int = 0  # 0 = all
    valid_utts: int = 16  # validation loss over the first this-many utterances of ``valid``


@dataclass
class USTokenizerTrainConfig:
    """Everything ``ustokenizer_train`` needs; written as ``config.yaml`` beside the checkpoints."""

    model: USTokenizerModelConfig = field(default_factory=USTokenizerModelConfig)
    loss: USTokenizerLossConfig = field(default_factory=USTokenizerLossConfig)
    optim: OptimConfig = field(
        default_factory=lambda: OptimConfig(lr=1e-3, betas=[0.9, 0.99], lr_decay_every=1000)
    )
    data: USTokenizerDataConfig = field(default_factory=USTokenizerDataConfig)
    seed: int = 0
    max_steps: int = 2000
    log_every: int = 20
    valid_every: int = 200
    ckpt_every_s: float = 300.0
    num_threads: int = 1

    def __post_init__(self) -> None:
        for key, value in (
            ("max_steps", self.max_steps),
            ("log_every", self.log_every),
            ("valid_every", self.valid_every),
            ("num_threads", self.num_threads),
            ("data.batch_size", self.data.batch_size),
        ):
            if value < 1:
                raise ConfigError(f"{key} must be >= 1, got {value}")
        if self.ckpt_every_s < 0:
            raise ConfigError(f"ckpt_every_s must be >= 0, got {self.ckpt_every_s}")
