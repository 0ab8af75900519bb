"""Tiny random Qwen2 models and tokenizers for tests, saved the way users' models are saved.

Every area's tests use these instead of downloading anything: a base LLM directory written with
``save_pretrained`` (config + safetensors weights + tokenizer) is loaded back through exactly the
code path a user's local Qwen1.5 directory takes. Sizes follow transformers' own model testers
(hidden 32, 2 layers), so a forward pass takes milliseconds on one core.

    base = make_tiny_base_llm(tmp_path / "base")          # Qwen2ForCausalLM + HF tokenizer
    spm_dir = make_tiny_spm_tokenizer(tmp_path / "spm")   # toolkit-trained sentencepiece BPE
    ckpt = make_tiny_speech_lm(tmp_path / "lm", base)     # a SpeechLM checkpoint of ours
"""

from __future__ import annotations

from pathlib import Path

from espnet_codec_lm.codec.config import (
    CodecModelConfig,
    DecoderConfig,
    EncoderConfig,
    QuantizerConfig,
)
from espnet_codec_lm.codec.model import SoundStreamCodec, save_codec
from espnet_codec_lm.lm.build import build_speech_lm
from espnet_codec_lm.lm.config import SpeechLMConfig
from espnet_codec_lm.lm.tokenizer import HFTextTokenizer, train_sentencepiece

#: a few sentences of both languages; enough for a byte-level BPE / sentencepiece of ~300 ids
TINY_CORPUS = (
    "the cat sat on the mat.",
    "a little dog runs in the green park every morning.",
    "she reads a book while the rain falls outside.",
    "we will meet at the station at seven o'clock.",
    "how are you today? i am fine, thank you!",
    "今天天气很好，我们去公园散步吧。",
    "他每天早上七点起床，然后喝一杯茶。",
    "这本书非常有意思，你读过吗？",
    "我们明天在火车站见面。",
    "小猫坐在垫子上，小狗在公园里跑。",
)


#: the ``model.arch`` of a tiny SpeechLM trained from scratch in tests (``init: none``)
TINY_ARCH = {
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "intermediate_size": 64,
}


def tiny_qwen2_config(vocab_size: int, **overrides):
    """A ``Qwen2Config`` of a few thousand parameters per layer (transformers-tester sized)."""
    from transformers import Qwen2Config

    kwargs = dict(
        vocab_size=vocab_size,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        rope_theta=10000.0,
        rms_norm_eps=1e-6,
        tie_word_embeddings=False,
        use_cache=True,
    )
    kwargs.update(overrides)
    return Qwen2Config(**kwargs)


def make_tiny_hf_tokenizer(directory: str | Path, vocab_size: int = 320, corpus=TINY_CORPUS):
    """Train a byte-level BPE (Qwen's tokenizer family) on ``corpus`` and ``save_pretrained`` it.

    Returns the :class:`~espnet_codec_lm.lm.tokenizer.HFTextTokenizer` read back from disk."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=["<|endoftext|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(list(corpus), trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    fast.save_pretrained(str(directory))
    return HFTextTokenizer.from_dir(directory)


def make_tiny_spm_tokenizer(directory: str | Path, vocab_size: int = 400, corpus=TINY_CORPUS):
    """A sentencepiece BPE trained by the toolkit on ``corpus``, saved in ``directory``."""
    return train_sentencepiece(list(corpus) * 20, directory, vocab_size=vocab_size)


def make_tiny_base_llm(
    directory: str | Path,
    seed: int = 0,
    padding_rows: int = 13,
    tokenizer_vocab_size: int = 320,
    **config_overrides,
) -> Path:
    """Write a random tiny ``Qwen2ForCausalLM`` + its HF tokenizer to ``directory``.

    The embedding has ``padding_rows`` rows beyond the tokenizer, like Qwen1.5 (151,936 rows for
    151,646 ids). ``config_overrides`` go to :func:`tiny_qwen2_config` (e.g.
    ``tie_word_embeddings=True``, ``hidden_size=64``)."""
    import torch
    from transformers import Qwen2ForCausalLM

    directory = Path(directory)
    tok = make_tiny_hf_tokenizer(directory, vocab_size=tokenizer_vocab_size)
    config = tiny_qwen2_config(tok.vocab_size + padding_rows, **config_overrides)
    torch.manual_seed(seed)
    model = Qwen2ForCausalLM(config)
    model.save_pretrained(str(directory))
    return directory


def make_tiny_speech_lm(
    directory: str | Path,
    base_llm: str | Path | None = None,
    num_streams: int = 3,
    codebook_size: int = 16,
    seed: int = 0,
    **config_overrides,
) -> Path:
    """Save a random tiny SpeechLM checkpoint of ours (``text_llm`` init from ``base_llm``, or
    from a fresh tiny base written to ``<directory>_base`` when ``base_llm`` is None)."""
    import torch

    directory = Path(directory)
    if base_llm is None:
        base_llm = make_tiny_base_llm(directory.parent / (directory.name + "_base"), seed=seed)
    cfg = SpeechLMConfig(
        init="text_llm",
        base_llm=str(base_llm),
        num_streams=num_streams,
        codebook_size=codebook_size,
        **config_overrides,
    )
    torch.manual_seed(seed)
    model, tokenizer = build_speech_lm(cfg)
    model.save_pretrained(directory, tokenizer=tokenizer)
    return directory


def make_tiny_codec(directory, codebook_size: int = 16, seed: int = 0):
    """A random tiny codec directory (config.yaml + model.safetensors), 3 codebooks of
    ``codebook_size`` in a 16-dimensional latent, loadable by ``load_codec``."""
    import torch

    cfg = CodecModelConfig(
        latent_dim=16,
        encoder=EncoderConfig(type="spectral", hidden=16, layers=1),
        decoder=DecoderConfig(type="istft", hidden=16, layers=1),
        quantizer=QuantizerConfig(num_codebooks=3, codebook_size=codebook_size, codebook_dim=4),
    )
    torch.manual_seed(seed)
    save_codec(SoundStreamCodec(cfg).eval(), directory)
    return directory
