"""Helpers of the USTokenizer tests: tiny configs and a tiny random Whisper checkpoint."""

from __future__ import annotations

from pathlib import Path

from espnet_codec_lm.codec.config import QuantizerConfig
from espnet_codec_lm.ustokenizer.config import (
    EncoderConfig,
    FrontEndConfig,
    TextLLMConfig,
    USTokenizerModelConfig,
    USTokenizerTrainConfig,
)


def tiny_model_config(llm: Path | str = "", whisper: Path | str = "") -> USTokenizerModelConfig:
    """Log-mel (stride 4) or, with ``whisper``, a Whisper front end (stride 2); width 32."""
    fe = FrontEndConfig(kind="whisper", path=str(whisper)) if whisper else FrontEndConfig()
    return USTokenizerModelConfig(
        frontend=fe,
        encoder=EncoderConfig(strides=[2] if whisper else [2, 2], dim=32, layers=1, heads=2),
        decoder_layers=1,
        latent_dim=16,
        quantizer=QuantizerConfig(num_codebooks=1, codebook_size=1024, dead_code_frames=64),
        text_llm=TextLLMConfig(path=str(llm)),
    )


def tiny_train_config(llm: Path, data: Path, whisper: Path | str = "") -> USTokenizerTrainConfig:
    cfg = USTokenizerTrainConfig(model=tiny_model_config(llm, whisper))
    cfg.optim.lr = 3e-3
    cfg.data.train = cfg.data.valid = str(data)
    cfg.data.batch_size = 2
    cfg.log_every = cfg.valid_every = 2
    cfg.max_steps = 6
    return cfg


def make_tiny_whisper(directory: Path) -> Path:
    """A random ``WhisperModel`` of width 16 (one layer each side) + the standard feature
    extractor, saved like a downloaded checkpoint."""
    import torch
    from transformers import WhisperConfig, WhisperFeatureExtractor, WhisperModel

    cfg = WhisperConfig(
        vocab_size=64,
        num_mel_bins=80,
        d_model=16,
        encoder_layers=1,
        decoder_layers=1,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=32,
        decoder_ffn_dim=32,
        max_target_positions=16,
        pad_token_id=0,
        bos_token_id=1,
        eos_token_id=2,
        decoder_start_token_id=1,
        begin_suppress_tokens=None,
        suppress_tokens=None,
    )
    torch.manual_seed(0)
    WhisperModel(cfg).save_pretrained(str(directory))
    WhisperFeatureExtractor(feature_size=80).save_pretrained(str(directory))
    return directory
