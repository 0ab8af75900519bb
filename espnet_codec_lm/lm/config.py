"""Typed configuration of the speech LM (the ``model:`` section of an LM training YAML).

Three initialisations (SPEC section 3), chosen by ``init``:

* ``none``: the paper's No Initialization. Architecture from ``base_llm``'s ``config.json`` when
  given (tokenizer from there too), else from ``arch`` + ``tokenizer``; all weights random.
* ``text_llm``: Text LLM Initialization from the local Hugging Face directory ``base_llm``
  (weights, config, tokenizer). Transformer, text embedding rows and text head rows are copied.
* any other value: the path of a checkpoint of ours (CPT -> SFT); its layout must match
  ``num_streams`` / ``codebook_size`` / ``num_extra_tokens``.

Example (``conf/lm_debug.yaml``)::

    init: none
    tokenizer: data/token_list/spm_bpe2000
    num_streams: 3
    codebook_size: 1024
    arch: {hidden_size: 256, num_hidden_layers: 4, num_attention_heads: 4, intermediate_size: 688}
    dtype: float32
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from espnet_codec_lm.config import ConfigError

INIT_NONE = "none"
INIT_TEXT_LLM = "text_llm"


@dataclass
class Qwen2ArchConfig:
    """Qwen2 sizes for ``init: none`` without a base LLM (ignored when ``base_llm`` is set)."""

    hidden_size: int = 256
    num_hidden_layers: int = 4
    num_attention_heads: int = 4
    num_key_value_heads: int = 4
    intermediate_size: int = 688
    #: text embedding rows; None = tokenizer size rounded up to a multiple of 64 (as Qwen pads)
    text_rows: int | None = None
    max_position_embeddings: int = 4096
    rope_theta: float = 10000.0
    rms_norm_eps: float = 1e-6
    tie_word_embeddings: bool = False
    initializer_range: float = 0.02

    def __post_init__(self) -> None:
        check_heads(self.hidden_size, self.num_attention_heads, self.num_key_value_heads, "arch")


def check_heads(hidden: int, heads: int, kv_heads: int, where: str) -> None:
    """A ConfigError unless ``hidden`` splits into ``heads`` and ``heads`` into ``kv_heads``."""
    if hidden % heads:
        raise ConfigError(
            f"{where}.hidden_size {hidden} is not a multiple of {where}.num_attention_heads {heads}"
        )
    if heads % kv_heads:
        raise ConfigError(
            f"{where}.num_attention_heads {heads} is not a multiple of "
            f"{where}.num_key_value_heads {kv_heads}"
        )


@dataclass
class SpeechLMConfig:
    """How to build the speech LM; see the module docstring for the ``init`` modes."""

    init: str = INIT_NONE  # none | text_llm | path to a checkpoint of ours
    base_llm: str | None = None  # local Hugging Face directory (config.json, weights, tokenizer)
    tokenizer: str | None = None  # text tokenizer dir / .model; default: base_llm's own
    num_streams: int = 3  # L': codebooks the LM models
    codebook_size: int = 1024
    num_extra_tokens: int = 0  # task tokens after the boundary tokens
    arch: Qwen2ArchConfig = field(default_factory=Qwen2ArchConfig)
    dtype: Literal["float32", "bfloat16", "float16"] = "float32"
    attn_implementation: Literal["sdpa", "eager", "flash_attention_2", "flex_attention"] = "sdpa"
    #: new embedding / head rows for text_llm: "matched" = N(0, std of the base's text rows),
    #: codec embedding rows scaled by 1/sqrt(L'); "normal" = N(0, initializer_range);
    #: "codec" = as matched, but each codec embedding row is a fixed projection of what its code
    #: adds to the codec's latent (needs ``codec_dir``), so acoustically close codes start close.
    #: Only init: text_llm adds rows; the other inits ignore it
    new_rows_init: Literal["matched", "normal", "codec"] = "matched"
    #: the codec whose codebooks ``new_rows_init: codec`` reads (a directory of ``load_codec``)
    codec_dir: str | None = None
    #: RMSNorm epsilon of every norm when the model is built from a config (init none / text_llm;
    #: a checkpoint keeps its own); None keeps the base config's (or ``arch.rms_norm_eps``).
    #: The paper trained with 1e-5 where Qwen1.5-0.5B's config says 1e-6 (its paper configs set it)
    rms_norm_eps: float | None = None

    def __post_init__(self) -> None:
        if not self.init:
            raise ConfigError("init must be 'none', 'text_llm' or a checkpoint directory")
        if self.num_streams < 1:
            raise ConfigError(f"num_streams must be >= 1, got {self.num_streams}")
        if self.codebook_size < 2:
            raise ConfigError(f"codebook_size must be >= 2, got {self.codebook_size}")
        if self.num_extra_tokens < 0:
            raise ConfigError(f"num_extra_tokens must be >= 0, got {self.num_extra_tokens}")
        if self.rms_norm_eps is not None and not 0 < self.rms_norm_eps < 1:
            raise ConfigError(f"rms_norm_eps must be in (0, 1), got {self.rms_norm_eps}")
        if self.new_rows_init == "codec" and self.init == INIT_TEXT_LLM and not self.codec_dir:
            raise ConfigError("new_rows_init: codec needs codec_dir (the codec directory)")

    @property
    def init_mode(self) -> str:
        """``none``, ``text_llm`` or ``checkpoint``."""
        return self.init if self.init in (INIT_NONE, INIT_TEXT_LLM) else "checkpoint"
