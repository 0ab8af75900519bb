"""Build the speech LM from a :class:`~espnet_codec_lm.lm.config.SpeechLMConfig` (init modes).

* ``none``: same architecture, every weight random (transformers' Qwen2 init,
  N(0, initializer_range) for embeddings and projections, ones for norms).
* ``text_llm``: the base model's transformer, final norm, text embedding rows and text head rows
  are copied unchanged (rows ``[0, text_rows)``, i.e. its padding rows too). New rows, with
  ``new_rows_init: matched`` (default): embedding rows ~ N(0, s_E^2) with s_E the standard
  deviation of the base's text embedding rows, the codec rows scaled by 1/sqrt(L') so that a
  speech frame (a sum of L' rows) starts at the size of a text embedding; head rows and the
  parallel heads ~ N(0, s_H^2) with s_H that of the base's text head rows, so speech logits
  start at the scale of text logits. ``normal`` keeps N(0, initializer_range) instead.
  ``codec``: as ``matched``, except the codec embedding rows: row j of codebook k is
  ``s * P v_kj``, with ``v_kj`` what code j adds to the codec's latent (centred per codebook)
  and ``P`` a fixed orthonormal map of the latent's principal directions into the hidden size,
  so a speech frame's summed embedding starts as a linear image of its quantised latent
  (acoustically close codes start close) at the size of a text embedding. Tied or untied embeddings follow the base config
  (tied: the head's new rows are the embedding's).
* a checkpoint of ours: loaded as saved; its layout must match the configured codec.
"""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import torch

from espnet_codec_lm.codec.model import load_codec
from espnet_codec_lm.lm.config import INIT_TEXT_LLM, SpeechLMConfig
from espnet_codec_lm.lm.model import SpeechLM, SpeechLMError
from espnet_codec_lm.lm.tokenizer import TextTokenizer, has_tokenizer, load_text_tokenizer
from espnet_codec_lm.lm.vocab import VocabLayout

_WEIGHT_FILES = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)


def build_speech_lm(cfg: SpeechLMConfig) -> tuple[SpeechLM, TextTokenizer]:
    """The model (in ``cfg.dtype``, on CPU) and its text tokenizer, for any init mode."""
    if cfg.init_mode == "checkpoint":
        return _load_checkpoint(cfg)
    base_dir = _check_base_dir(cfg) if cfg.base_llm else None
    if cfg.init_mode == INIT_TEXT_LLM and base_dir is None:
        raise SpeechLMError("init: text_llm needs base_llm (a local Hugging Face directory)")
    tokenizer = _load_tokenizer(cfg, base_dir)
    text_config = _text_config(cfg, base_dir, tokenizer)
    layout = VocabLayout.from_configs(
        text_config.to_dict(),
        text_vocab_size=tokenizer.vocab_size,
        num_streams=cfg.num_streams,
        codebook_size=cfg.codebook_size,
        num_extra_tokens=cfg.num_extra_tokens,
    )
    config = copy.deepcopy(text_config)
    config.vocab_size = layout.size
    config.use_cache = True
    config._attn_implementation = cfg.attn_implementation
    model = SpeechLM(config, layout)
    if cfg.init_mode == INIT_TEXT_LLM:
        _copy_text_llm(model, base_dir, cfg.new_rows_init)
        if cfg.new_rows_init == "codec":
            _codec_rows(model, cfg.codec_dir)
    model.meta = {"init": cfg.init_mode, "base_llm": str(base_dir) if base_dir else None}
    model.cast_parameters(cfg.dtype)
    return model, tokenizer


def speech_lm_on_meta(
    base_config: dict, text_vocab_size: int, num_streams: int = 3, codebook_size: int = 1024
) -> SpeechLM:
    """The SpeechLM for a base ``config.json`` dict on the meta device (shapes, no memory): for
    parameter counts of paper-scale configurations."""
    from transformers import Qwen2Config

    layout = VocabLayout.from_configs(base_config, text_vocab_size, num_streams, codebook_size)
    config = Qwen2Config(**{**base_config, "vocab_size": layout.size})
    with torch.device("meta"):
        return SpeechLM(config, layout)


# --- pieces ----------------------------------------------------------------------------------
def _check_base_dir(cfg: SpeechLMConfig) -> Path:
    base = Path(cfg.base_llm)
    if not base.is_dir():
        raise SpeechLMError(f"{base}: base LLM directory not found")
    config_file = base / "config.json"
    if not config_file.is_file():
        raise SpeechLMError(f"{base}: no config.json (not a Hugging Face model directory)")
    try:
        model_type = json.loads(config_file.read_text(encoding="utf-8")).get("model_type")
    except json.JSONDecodeError as e:
        raise SpeechLMError(f"{config_file}: malformed JSON (line {e.lineno})") from None
    if model_type != "qwen2":
        raise SpeechLMError(
            f"{config_file}: model_type {model_type!r} is not supported (Qwen2 architecture: "
            "Qwen1.5 / Qwen2 / Qwen2.5 checkpoints)"
        )
    if cfg.init_mode == INIT_TEXT_LLM and not any((base / f).is_file() for f in _WEIGHT_FILES):
        raise SpeechLMError(f"{base}: no weights ({' / '.join(_WEIGHT_FILES)}) for init text_llm")
    return base


def _load_tokenizer(cfg: SpeechLMConfig, base_dir: Path | None) -> TextTokenizer:
    if cfg.tokenizer:
        if cfg.init_mode == INIT_TEXT_LLM:
            raise SpeechLMError(
                f"init: text_llm keeps the tokenizer of {base_dir}; leave tokenizer unset "
                f"(got {cfg.tokenizer})"
            )
        return load_text_tokenizer(cfg.tokenizer)
    if base_dir is None:
        raise SpeechLMError("init: none without base_llm needs a tokenizer (directory or .model)")
    if not has_tokenizer(base_dir):
        raise SpeechLMError(f"{base_dir}: base LLM directory has no tokenizer files")
    return load_text_tokenizer(base_dir)


def _text_config(cfg: SpeechLMConfig, base_dir: Path | None, tokenizer: TextTokenizer):
    """The base ``Qwen2Config`` (text vocabulary) from ``base_dir`` or ``cfg.arch``."""
    from transformers import Qwen2Config

    if base_dir is not None:
        config = Qwen2Config.from_pretrained(str(base_dir), local_files_only=True)
    else:
        a = cfg.arch
        rows = a.text_rows or 64 * math.ceil(tokenizer.vocab_size / 64)
        config = Qwen2Config(
            vocab_size=rows,
            hidden_size=a.hidden_size,
            intermediate_size=a.intermediate_size,
            num_hidden_layers=a.num_hidden_layers,
            num_attention_heads=a.num_attention_heads,
            num_key_value_heads=a.num_key_value_heads,
            max_position_embeddings=a.max_position_embeddings,
            rope_theta=a.rope_theta,
            rms_norm_eps=a.rms_norm_eps,
            tie_word_embeddings=a.tie_word_embeddings,
            initializer_range=a.initializer_range,
        )
    if cfg.rms_norm_eps is not None:
        config.rms_norm_eps = cfg.rms_norm_eps
    if tokenizer.vocab_size > config.vocab_size:
        where = base_dir or "arch.text_rows"
        raise SpeechLMError(
            f"{where}: tokenizer has {tokenizer.vocab_size} ids but the model only "
            f"{config.vocab_size} text embedding rows"
        )
    return config


@torch.no_grad()
def _copy_text_llm(model: SpeechLM, base_dir: Path, scheme: str) -> None:
    """Copy the base's weights into ``model`` and initialise the new rows (module docstring)."""
    from transformers import Qwen2ForCausalLM

    base = Qwen2ForCausalLM.from_pretrained(
        str(base_dir), dtype=torch.float32, local_files_only=True
    )
    lay = model.layout
    rows, n_text = lay.text_rows, lay.text_vocab_size
    if base.config.vocab_size != rows:
        raise SpeechLMError(f"{base_dir}: weights have {base.config.vocab_size} rows, not {rows}")
    state = {
        k: v
        for k, v in base.state_dict().items()
        if k not in ("model.embed_tokens.weight", "lm_head.weight")
    }
    missing, unexpected = model.lm.load_state_dict(state, strict=False)
    missing = [k for k in missing if k not in ("model.embed_tokens.weight", "lm_head.weight")]
    if missing or unexpected:
        raise SpeechLMError(
            f"{base_dir}: weights do not match the config ({missing or unexpected})"
        )

    emb = model.lm.model.embed_tokens.weight
    head = model.lm.lm_head.weight
    tied = head is emb
    base_emb = base.model.embed_tokens.weight
    base_head = base.lm_head.weight
    emb[:rows] = base_emb.to(emb.dtype)
    if not tied:
        head[:rows] = base_head.to(head.dtype)
    if scheme in ("matched", "codec"):
        s_emb = float(base_emb[:n_text].std())
        s_head = float(base_head[:n_text].std())
        codec_lo, codec_hi = lay.codec_offset, lay.boundary_offset
        emb[codec_lo:codec_hi].normal_(0.0, s_emb / math.sqrt(lay.num_streams))
        emb[codec_hi:].normal_(0.0, s_emb)
        if not tied:
            head[rows:].normal_(0.0, s_head)
        for extra in model.extra_heads:
            extra.weight.normal_(0.0, s_head)
    del base


@torch.no_grad()
def _codec_rows(model: SpeechLM, codec_dir: str, seed: int = 0) -> None:
    """Codec embedding rows from the codec's codebooks (``new_rows_init: codec``)."""
    lay = model.layout
    codec = load_codec(codec_dir)
    if codec.codebook_size != lay.codebook_size or codec.num_codebooks < lay.num_streams:
        raise SpeechLMError(
            f"{codec_dir}: codec has {codec.num_codebooks} x {codec.codebook_size} codes, the LM "
            f"models {lay.num_streams} x {lay.codebook_size}"
        )
    vectors = codec.quantizer.codebook_vectors(lay.num_streams).float()  # [L', K, D]
    # centred per codebook: the latent's common offset (most of codebook 1's norm in the mini
    # codec) is the same for every frame and would drown the differences between codes
    vectors = vectors - vectors.mean(dim=1, keepdim=True)
    emb = model.lm.model.embed_tokens.weight
    hidden = emb.shape[1]
    flat = vectors.reshape(-1, vectors.shape[-1])
    # principal directions of the code vectors, at most hidden of them
    _, _, vh = torch.linalg.svd(flat, full_matrices=False)
    basis = vh[: min(hidden, vh.shape[0])]  # [r, D]
    gen = torch.Generator().manual_seed(seed)
    rot, _ = torch.linalg.qr(torch.randn(hidden, basis.shape[0], generator=gen))  # [H, r]
    proj = basis.t() @ rot.t()  # [D, H], orthonormal rows of the latent's span
    s_emb = float(emb[: lay.text_vocab_size].std())
    frame_power = float(
        vectors.square().sum(-1).mean(-1).sum()
    )  # E||sum_k v_k||^2 for independent codes
    scale = s_emb * math.sqrt(hidden / max(frame_power, 1e-12))
    for k in range(lay.num_streams):
        lo, hi = lay.codebook_range(k)
        emb[lo:hi] = (scale * vectors[k] @ proj).to(emb.dtype)


def _load_checkpoint(cfg: SpeechLMConfig) -> tuple[SpeechLM, TextTokenizer]:
    path = Path(cfg.init)
    if not path.is_dir():
        raise SpeechLMError(
            f"{path}: init is neither 'none', 'text_llm' nor a checkpoint directory"
        )
    model = SpeechLM.from_pretrained(
        path, dtype=cfg.dtype, attn_implementation=cfg.attn_implementation
    )
    lay = model.layout
    want = (cfg.num_streams, cfg.codebook_size, cfg.num_extra_tokens)
    have = (lay.num_streams, lay.codebook_size, lay.num_extra_tokens)
    if want != have:
        raise SpeechLMError(
            f"{path}: checkpoint vocabulary has {have[0]} streams x {have[1]} codes + {have[2]} "
            f"task tokens but the config/codec says {want[0]} x {want[1]} + {want[2]}"
        )
    if not has_tokenizer(path):
        raise SpeechLMError(f"{path}: checkpoint has no text tokenizer")
    tokenizer = load_text_tokenizer(path)
    if tokenizer.vocab_size != lay.text_vocab_size:
        raise SpeechLMError(
            f"{path}: tokenizer has {tokenizer.vocab_size} ids but vocab_layout.json says "
            f"{lay.text_vocab_size}"
        )
    if cfg.tokenizer and Path(cfg.tokenizer).resolve() != path.resolve():
        other = load_text_tokenizer(cfg.tokenizer)
        if other.vocab_size != tokenizer.vocab_size:
            raise SpeechLMError(
                f"{cfg.tokenizer}: tokenizer ({other.vocab_size} ids) differs from the one in "
                f"checkpoint {path} ({tokenizer.vocab_size} ids)"
            )
    model.meta.setdefault("init_chain", [])
    model.meta["init_chain"] = list(model.meta["init_chain"]) + [str(path)]
    return model, tokenizer
