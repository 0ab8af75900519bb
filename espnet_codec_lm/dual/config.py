"""Typed configuration of DualSpeechLM's acoustic side (the ``model.dual`` section of an LM
training YAML; doc/dualspeechlm.md).

The LLM part is a plain :class:`espnet_codec_lm.lm.config.SpeechLMConfig` whose "codec" is the
USTokenizer (``num_streams: 1``, ``codebook_size: 1024``); this section adds the acoustic
decoder that writes the codec's tokens::

    model:
      init: text_llm
      base_llm: exp/text_llm/hf
      num_streams: 1            # USTokens: one stream
      codebook_size: 1024
      dual:
        acoustic_streams: 3     # codebooks of the toolkit's codec the decoder writes
        acoustic_codebook_size: 1024
        decoder: {hidden_size: 256, num_hidden_layers: 6, num_attention_heads: 8}
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from espnet_codec_lm.config import ConfigError
from espnet_codec_lm.lm.config import check_heads

#: Chain-of-Condition modes: which LLM hidden states condition the acoustic decoder
COC_MODES = ("question", "answer", "full")


@dataclass
class AcousticDecoderArch:
    """Sizes of the acoustic decoder (a small Qwen2 decoder; the paper: 6 layers, 8 heads)."""

    hidden_size: int = 256
    num_hidden_layers: int = 6
    num_attention_heads: int = 8
    num_key_value_heads: int = 8
    intermediate_size: int = 688
    max_position_embeddings: int = 4096
    rope_theta: float = 10000.0
    rms_norm_eps: float = 1e-6
    initializer_range: float = 0.02

    def __post_init__(self) -> None:
        check_heads(
            self.hidden_size, self.num_attention_heads, self.num_key_value_heads, "dual.decoder"
        )


@dataclass
class DualConfig:
    """The acoustic decoder, its conditioning and the loss weights."""

    acoustic_streams: int = 3  # codebooks of the codec the decoder writes (L'_a)
    acoustic_codebook_size: int = 1024
    decoder: AcousticDecoderArch = field(default_factory=AcousticDecoderArch)
    #: Chain-of-Condition modes drawn uniformly per generation example in training (the public
    #: code, as we read it: question-only, answer-only or full hidden states, 1/3 each)
    coc_train: list[str] = field(default_factory=lambda: list(COC_MODES))
    #: the mode used at inference
    coc_infer: Literal["question", "answer", "full"] = "full"
    acoustic_weight: float = 1.0  # weight of the acoustic decoder's loss
    #: weight of the LLM's loss on the targets of generation tasks (the USTokens of the target
    #: speech: the semantic supervision loss); understanding targets keep weight 1
    semantic_weight: float = 1.0

    def __post_init__(self) -> None:
        if self.acoustic_streams < 1 or self.acoustic_codebook_size < 2:
            raise ConfigError(
                f"dual: bad acoustic layout {self.acoustic_streams} x {self.acoustic_codebook_size}"
            )
        bad = [m for m in self.coc_train if m not in COC_MODES]
        if bad or not self.coc_train:
            raise ConfigError(f"dual.coc_train: {bad or 'empty'} (choose from {list(COC_MODES)})")
        if self.acoustic_weight < 0 or self.semantic_weight < 0:
            raise ConfigError("dual: loss weights must be >= 0")
