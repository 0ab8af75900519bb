"""Tiny random models saved to disk in the real checkpoint formats.

Each model is written the way its real counterpart ships (Whisper: a Hugging Face directory
from ``save_pretrained``; RawNet3: an ESPnet-SPK ``config.yaml`` + ``*.pth`` state dict; UTMOS: a
SpeechMOS-format ``.pt`` state dict) and the tests load it through the user's code path.
"""

from __future__ import annotations

import json

import pytest
import torch
import yaml
from metrics_tiny_conf import TINY_SPK_CONF, TINY_UTMOS  # noqa: E402


@pytest.fixture(scope="session")
def tiny_rawnet3_dir(tmp_path_factory):
    """An ESPnet-SPK model dir like ``espnet/voxcelebs12_rawnet3``: exp/<name>/config.yaml +
    a .pth state dict (with a training-loss weight that inference must ignore)."""
    from espnet_codec_lm.metrics.speaker import build_speaker_model

    root = tmp_path_factory.mktemp("rawnet3")
    exp = root / "exp" / "spk_train_rawnet3_tiny"
    exp.mkdir(parents=True)
    torch.manual_seed(0)
    model = build_speaker_model(TINY_SPK_CONF).eval()
    sd = dict(model.state_dict())
    sd["loss.weight"] = torch.randn(8, 5)  # a training head, as in real checkpoints
    torch.save(sd, exp / "40epoch.pth")
    (exp / "config.yaml").write_text(yaml.safe_dump(TINY_SPK_CONF))
    # meta.yaml as `espnet2.bin.pack spk` writes it; a second config.yaml (stats dir) means the
    # loader must follow meta.yaml rather than guess
    meta = {
        "files": {"model_file": "exp/spk_train_rawnet3_tiny/40epoch.pth"},
        "yaml_files": {"train_config": "exp/spk_train_rawnet3_tiny/config.yaml"},
    }
    (root / "meta.yaml").write_text(yaml.safe_dump(meta))
    (root / "exp" / "spk_stats").mkdir()
    (root / "exp" / "spk_stats" / "config.yaml").write_text("dummy: 1\n")
    return root


@pytest.fixture(scope="session")
def tiny_utmos_ckpt(tmp_path_factory):
    """A UTMOS22-strong checkpoint (SpeechMOS key layout) of a small random model."""
    from espnet_codec_lm.metrics.utmos import UTMOS22Strong

    torch.manual_seed(0)
    model = UTMOS22Strong(**TINY_UTMOS).eval()
    with torch.no_grad():  # non-trivial norms/embeddings so a mis-mapped key changes the output
        for name, p in model.named_parameters():
            if p.dim() == 1 or name.endswith(("_emb", "original0")):
                p.add_(0.3 * torch.randn_like(p))
    path = tmp_path_factory.mktemp("utmos") / "utmos22_strong_tiny.pt"
    torch.save(model.to_speechmos_state_dict(), path)
    return path, model


@pytest.fixture(scope="session")
def tiny_whisper_dir(tmp_path_factory):
    """A random multilingual Whisper (byte-level vocabulary, en + zh language tokens) saved with
    ``save_pretrained`` together with its processor, like a local whisper-large-v3 copy."""
    from transformers import (
        WhisperConfig,
        WhisperFeatureExtractor,
        WhisperForConditionalGeneration,
        WhisperProcessor,
        WhisperTokenizer,
    )
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    out = tmp_path_factory.mktemp("whisper")
    vocab = {c: i for i, c in enumerate(bytes_to_unicode().values())}
    specials = [
        "<|startoftranscript|>",
        "<|en|>",
        "<|zh|>",
        "<|translate|>",
        "<|transcribe|>",
        "<|startoflm|>",
        "<|startofprev|>",
        "<|nospeech|>",
        "<|notimestamps|>",
    ]
    tok = WhisperTokenizer(vocab=vocab, merges=[], pad_token="<|endoftext|>")
    tok.add_special_tokens({"additional_special_tokens": specials})
    ids = {s: tok.convert_tokens_to_ids(s) for s in ["<|endoftext|>", *specials]}
    eot = ids["<|endoftext|>"]
    cfg = WhisperConfig(
        vocab_size=len(tok),
        num_mel_bins=80,
        d_model=16,
        encoder_layers=1,
        decoder_layers=1,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=32,
        decoder_ffn_dim=32,
        max_source_positions=1500,
        max_target_positions=24,
        pad_token_id=eot,
        bos_token_id=eot,
        eos_token_id=eot,
        decoder_start_token_id=ids["<|startoftranscript|>"],
    )
    torch.manual_seed(0)
    model = WhisperForConditionalGeneration(cfg)
    gc = model.generation_config
    gc._from_model_config = False
    gc.lang_to_id = {"<|en|>": ids["<|en|>"], "<|zh|>": ids["<|zh|>"]}
    gc.task_to_id = {"transcribe": ids["<|transcribe|>"], "translate": ids["<|translate|>"]}
    gc.is_multilingual = True
    gc.no_timestamps_token_id = ids["<|notimestamps|>"]
    gc.decoder_start_token_id = ids["<|startoftranscript|>"]
    gc.suppress_tokens = []
    model.save_pretrained(out)
    WhisperProcessor(WhisperFeatureExtractor(feature_size=80), tok).save_pretrained(out)
    # Whisper checkpoints ship the British->American spelling table as normalizer.json
    (out / "normalizer.json").write_text(json.dumps({"colour": "color"}))
    return out
