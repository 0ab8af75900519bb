"""Init modes, checkpoints, export to a plain Hugging Face directory, and the errors."""

from __future__ import annotations

import shutil

import pytest
import torch

from espnet_codec_lm.config import ConfigError, load_config
from espnet_codec_lm.lm.build import build_speech_lm
from espnet_codec_lm.lm.config import SpeechLMConfig
from espnet_codec_lm.lm.labels import shift_labels
from espnet_codec_lm.lm.model import SpeechLM, SpeechLMError
from espnet_codec_lm.lm.tokenizer import SentencePieceTokenizer, load_text_tokenizer
from espnet_codec_lm.lm.vocab import STREAM_PAD
from espnet_codec_lm.testing.tiny_models import make_tiny_codec, make_tiny_spm_tokenizer


def _cfg(base, **kw):
    kw.setdefault("init", "text_llm")
    return SpeechLMConfig(base_llm=str(base) if base else None, codebook_size=16, **kw)


def _batch(model, seed=0, T=20):
    """Random mixed text / speech positions + labels."""
    lay = model.layout
    g = torch.Generator().manual_seed(seed)
    tokens = torch.full((2, T, lay.num_streams), STREAM_PAD)
    tokens[..., 0] = torch.randint(0, lay.text_vocab_size, (2, T), generator=g)
    speech = torch.rand(2, T, generator=g) < 0.5
    codes = torch.randint(0, lay.codebook_size, (2, T, lay.num_streams), generator=g)
    ids = torch.as_tensor(lay.codes_to_ids(codes.reshape(-1, lay.num_streams).numpy()))
    tokens[speech] = ids.reshape(2, T, -1)[speech]
    return tokens, shift_labels(tokens, torch.ones(2, T, dtype=torch.bool))


def _outputs(model, tokens, labels):
    with torch.no_grad():
        return model(tokens, labels=labels, return_logits=True)


def test_text_llm_copies_base_and_initialises_new_rows(tiny_base):
    from transformers import Qwen2ForCausalLM

    torch.manual_seed(0)
    model, tok = build_speech_lm(_cfg(tiny_base))
    base = Qwen2ForCausalLM.from_pretrained(str(tiny_base))
    lay = model.layout
    emb, head = model.lm.model.embed_tokens.weight, model.lm.lm_head.weight
    assert lay.text_vocab_size == tok.vocab_size == 320 and lay.text_rows == 333
    assert lay.size == 333 + 3 * 16 + 4
    assert torch.equal(emb[: lay.text_rows], base.model.embed_tokens.weight)
    assert torch.equal(head[: lay.text_rows], base.lm_head.weight)
    base_sd = base.state_dict()
    for k, v in model.lm.state_dict().items():
        if "embed_tokens" not in k and "lm_head" not in k:
            assert torch.equal(v, base_sd[k]), k
    # "matched" scheme: new rows at the scale of the base's text rows
    s_emb = base.model.embed_tokens.weight[: lay.text_vocab_size].std().item()
    s_head = base.lm_head.weight[: lay.text_vocab_size].std().item()
    codec = emb[lay.codec_offset : lay.boundary_offset]
    assert codec.std().item() == pytest.approx(s_emb / 3**0.5, rel=0.15)
    assert head[lay.text_rows :].std().item() == pytest.approx(s_head, rel=0.15)
    assert torch.cat([h.weight for h in model.extra_heads]).std().item() == pytest.approx(
        s_head, rel=0.15
    )
    assert model.meta["init"] == "text_llm"


def test_codec_init_rows_are_a_scaled_isometry_of_the_codebooks(tiny_base, tmp_path):
    """new_rows_init: codec: the codec embedding rows have the (centred) codebook vectors'
    geometry, a frame starts at the text embeddings' size, the rest is as "matched"."""
    from espnet_codec_lm.codec.model import load_codec

    codec_dir = make_tiny_codec(tmp_path / "codec", codebook_size=16, seed=3)
    matched, _ = build_speech_lm(_cfg(tiny_base))
    model, _ = build_speech_lm(_cfg(tiny_base, new_rows_init="codec", codec_dir=str(codec_dir)))
    lay = model.layout
    emb = model.lm.model.embed_tokens.weight
    assert torch.equal(emb[: lay.text_rows], matched.lm.model.embed_tokens.weight[: lay.text_rows])
    v = load_codec(codec_dir).quantizer.codebook_vectors(3)  # [3, 16, latent 16]
    v = (v - v.mean(dim=1, keepdim=True)).reshape(-1, v.shape[-1])
    rows = emb[lay.codec_offset : lay.boundary_offset]  # codebooks 1..3, in order
    gram_codec, gram_rows = v @ v.t(), rows @ rows.t()
    scale2 = gram_rows.trace() / gram_codec.trace()
    torch.testing.assert_close(gram_rows, scale2 * gram_codec, rtol=1e-4, atol=1e-6)
    # the summed frame: E||sum_k e_k||^2 / hidden = the base's text embedding variance
    s_emb = emb[: lay.text_vocab_size].std().item()
    power = rows.reshape(3, 16, -1).square().sum(-1).mean(-1).sum().item()
    assert power / model.config.hidden_size == pytest.approx(s_emb**2, rel=1e-4)
    # the head rows are drawn as for "matched"
    s_head = model.lm.lm_head.weight[: lay.text_vocab_size].std().item()
    assert model.lm.lm_head.weight[lay.text_rows :].std().item() == pytest.approx(s_head, rel=0.15)


def test_codec_init_errors(tiny_base, tmp_path):
    with pytest.raises(ConfigError, match="needs codec_dir"):
        _cfg(tiny_base, new_rows_init="codec")
    codec_dir = make_tiny_codec(tmp_path / "codec32", codebook_size=32)
    with pytest.raises(
        SpeechLMError, match="codec32: codec has 3 x 32 codes, the LM models 3 x 16"
    ):
        build_speech_lm(_cfg(tiny_base, new_rows_init="codec", codec_dir=str(codec_dir)))


def test_none_init_same_architecture_random_weights(tiny_base):
    torch.manual_seed(0)
    text_llm, _ = build_speech_lm(_cfg(tiny_base))
    model, tok = build_speech_lm(_cfg(tiny_base, init="none"))
    assert model.layout == text_llm.layout
    assert model.config.num_hidden_layers == text_llm.config.num_hidden_layers
    assert sum(p.numel() for p in model.parameters()) == sum(
        p.numel() for p in text_llm.parameters()
    )
    w, w_base = (
        model.lm.model.layers[0].mlp.up_proj.weight,
        text_llm.lm.model.layers[0].mlp.up_proj.weight,
    )
    assert not torch.allclose(w, w_base)
    assert w.std().item() == pytest.approx(model.config.initializer_range, rel=0.2)


def test_none_init_without_base_uses_arch_and_sentencepiece(tmp_path):
    make_tiny_spm_tokenizer(tmp_path / "spm", vocab_size=400)
    yaml = tmp_path / "lm.yaml"
    yaml.write_text(
        f"init: none\ntokenizer: {tmp_path / 'spm'}\ncodebook_size: 16\n"
        "arch: {hidden_size: 32, num_hidden_layers: 2, num_attention_heads: 4,"
        " num_key_value_heads: 2, intermediate_size: 64}\n"
    )
    cfg = load_config(SpeechLMConfig, yaml, ["num_streams=2"])
    model, tok = build_speech_lm(cfg)
    assert isinstance(tok, SentencePieceTokenizer) and tok.vocab_size == 400
    assert model.layout.text_rows == 448  # 400 rounded up to a multiple of 64
    assert model.layout.num_streams == 2 and len(model.extra_heads) == 1
    assert model.config.hidden_size == 32
    model.save_pretrained(tmp_path / "ckpt", tokenizer=tok)
    again = load_text_tokenizer(tmp_path / "ckpt")
    assert isinstance(again, SentencePieceTokenizer)
    assert again.encode("今天 the cat") == tok.encode("今天 the cat")
    with pytest.raises(ConfigError, match="unknown key 'arch.hidden'"):
        load_config(SpeechLMConfig, yaml, ["arch.hidden=3"])


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_save_load_identical_outputs(tiny_base, tmp_path, dtype):
    model, tok = build_speech_lm(_cfg(tiny_base, dtype=dtype))
    tokens, labels = _batch(model)
    ref = _outputs(model.eval(), tokens, labels)
    model.save_pretrained(tmp_path / "ckpt", tokenizer=tok)
    model.save_pretrained(tmp_path / "ckpt", tokenizer=tok)  # overwriting is atomic and fine
    loaded = SpeechLM.from_pretrained(tmp_path / "ckpt").eval()
    assert loaded.lm.dtype == getattr(torch, dtype)
    assert loaded.layout == model.layout and loaded.meta == model.meta
    got = _outputs(loaded, tokens, labels)
    assert torch.equal(got.logits, ref.logits) and torch.equal(got.extra_logits, ref.extra_logits)
    assert torch.equal(got.loss_sum, ref.loss_sum)
    assert [p.name for p in (tmp_path).iterdir() if p.name.startswith(".")] == []


def test_tied_base_stays_tied_through_save_load_and_export(tiny_base_tied, tmp_path):
    from transformers import AutoModelForCausalLM

    model, tok = build_speech_lm(_cfg(tiny_base_tied))
    assert model.lm.lm_head.weight is model.lm.model.embed_tokens.weight
    model.save_pretrained(tmp_path / "ckpt", tokenizer=tok)
    loaded = SpeechLM.from_pretrained(tmp_path / "ckpt")
    assert loaded.lm.lm_head.weight is loaded.lm.model.embed_tokens.weight
    hf = AutoModelForCausalLM.from_pretrained(str(tmp_path / "ckpt"))
    assert hf.lm_head.weight.data_ptr() == hf.model.embed_tokens.weight.data_ptr()


def test_rms_norm_eps_overrides_the_base_and_survives_save_load(tiny_base, tmp_path):
    """model.rms_norm_eps (the paper: 1e-5; Qwen1.5-0.5B's config: 1e-6) reaches every norm."""

    def eps_of(m):
        return {n.variance_epsilon for n in m.modules() if type(n).__name__ == "Qwen2RMSNorm"}

    base_eps = build_speech_lm(_cfg(tiny_base))[0]
    assert eps_of(base_eps) == {1e-6}  # the base config's
    model, tok = build_speech_lm(_cfg(tiny_base, rms_norm_eps=1e-5))
    assert eps_of(model) == {1e-5} and len([*model.modules()]) == len([*base_eps.modules()])
    model.save_pretrained(tmp_path / "ckpt", tokenizer=tok)
    assert eps_of(SpeechLM.from_pretrained(tmp_path / "ckpt")) == {1e-5}
    with pytest.raises(ConfigError, match="rms_norm_eps must be in"):
        _cfg(tiny_base, rms_norm_eps=0.0)


def test_export_loads_with_auto_model_for_causal_lm(tiny_base, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model, tok = build_speech_lm(_cfg(tiny_base))
    model.eval().save_pretrained(tmp_path / "export", tokenizer=tok)
    hf = AutoModelForCausalLM.from_pretrained(str(tmp_path / "export")).eval()
    assert type(hf).__name__ == "Qwen2ForCausalLM"
    assert hf.config.vocab_size == model.layout.size  # backbone + extended head
    # stream-0-only input (text, boundary and codebook-1 ids): same main-head logits
    lay = model.layout
    ids = torch.tensor(
        [[lay.text_start, 5, 17, lay.text_end, lay.speech_start, lay.codec_offset + 3]]
    )
    with torch.no_grad():
        torch.testing.assert_close(hf(ids).logits, model(ids).logits, atol=1e-5, rtol=0)
    hf_tok = AutoTokenizer.from_pretrained(str(tmp_path / "export"))
    assert hf_tok.encode("今天 the cat", add_special_tokens=False) == tok.encode("今天 the cat")
    names = {p.name for p in (tmp_path / "export").iterdir()}
    assert {
        "config.json",
        "model.safetensors",
        "speech_heads.safetensors",
        "vocab_layout.json",
        "speech_lm.json",
        "text_tokenizer.json",
    } <= names


def test_checkpoint_init_and_layout_mismatch(tiny_base, tmp_path):
    model, tok = build_speech_lm(_cfg(tiny_base))
    model.save_pretrained(tmp_path / "cpt", tokenizer=tok)
    tokens, labels = _batch(model, seed=3)
    sft, sft_tok = build_speech_lm(_cfg(None, init=str(tmp_path / "cpt")))
    assert torch.equal(
        _outputs(sft.eval(), tokens, labels).logits, _outputs(model.eval(), tokens, labels).logits
    )
    assert sft_tok.vocab_size == tok.vocab_size
    assert sft.meta["init_chain"] == [str(tmp_path / "cpt")]
    with pytest.raises(SpeechLMError, match=r"3 streams x 16 codes .* config/codec says 3 x 32"):
        build_speech_lm(SpeechLMConfig(init=str(tmp_path / "cpt"), codebook_size=32))
    with pytest.raises(SpeechLMError, match=r"2 x 16"):
        build_speech_lm(_cfg(None, init=str(tmp_path / "cpt"), num_streams=2))


def test_errors_are_one_line_and_name_the_path(tiny_base, tmp_path):
    def one_line_error(cfg, match):
        with pytest.raises(SpeechLMError, match=match) as e:
            build_speech_lm(cfg)
        assert "\n" not in str(e.value)

    one_line_error(_cfg(tmp_path / "missing"), "missing: base LLM directory not found")
    one_line_error(_cfg(None), "text_llm needs base_llm")
    one_line_error(SpeechLMConfig(init="none"), "needs a tokenizer")
    one_line_error(_cfg(None, init=str(tmp_path / "nockpt")), "nockpt: init is neither")
    # a base directory without tokenizer files
    no_tok = tmp_path / "no_tok"
    no_tok.mkdir()
    for name in ("config.json", "model.safetensors"):
        shutil.copy(tiny_base / name, no_tok / name)
    one_line_error(_cfg(no_tok), "no_tok: base LLM directory has no tokenizer files")
    # a base directory without weights
    no_w = tmp_path / "no_weights"
    shutil.copytree(tiny_base, no_w)
    (no_w / "model.safetensors").unlink()
    one_line_error(_cfg(no_w), "no_weights: no weights")
    # not a Qwen2 architecture
    llama = tmp_path / "llama"
    shutil.copytree(tiny_base, llama)
    text = (llama / "config.json").read_text().replace('"qwen2"', '"llama"')
    (llama / "config.json").write_text(text)
    one_line_error(_cfg(llama), "model_type 'llama' is not supported")
    # tokenizer larger than the base's embedding
    big = tmp_path / "big_tok"
    make_tiny_spm_tokenizer(big, vocab_size=600)
    one_line_error(
        _cfg(tiny_base, init="none", tokenizer=str(big)), "600 ids but the model only 333"
    )
    one_line_error(_cfg(tiny_base, tokenizer=str(big)), "text_llm keeps the tokenizer")
    with pytest.raises(SpeechLMError, match="not a SpeechLM checkpoint"):
        SpeechLM.from_pretrained(tiny_base)
