"""LM stage: base LLM directories and checkpoints that are unusable. ``lm_train`` (the stage that
builds the model from ``model:``) must stop with one line naming the directory, before it writes
anything into an experiment that already holds outputs."""

from __future__ import annotations

import shutil

import pytest
from rel_helpers import assert_one_line_error, assert_unchanged, call_main, tree_hashes, write_yaml

from espnet_codec_lm.testing.tiny_models import make_tiny_speech_lm


@pytest.fixture(scope="module")
def tiny_ckpt(tmp_path_factory, tiny_base):
    """A SpeechLM checkpoint of ours: 3 streams x 16 codes."""
    return make_tiny_speech_lm(tmp_path_factory.mktemp("rel_lm") / "ckpt", tiny_base)


def _train(tmp_path, model: dict):
    exp = tmp_path / "exp"
    exp.mkdir(exist_ok=True)
    (exp / "train_log.jsonl").write_text('{"step": 1, "loss": 3.0}\n', encoding="utf-8")
    cfg = write_yaml(
        tmp_path / "train.yaml",
        {
            "model": model,
            "data": {"kind": "synthetic", "epoch_size": 4, "max_example": 16},
            "batch": {"global_sequences": 2, "micro_batch": 1, "max_len": 32},
            "stop": {"max_steps": 1},
            "log": {"tensorboard": False},
        },
    )
    before = tree_hashes(tmp_path)
    res = call_main("lm_train", "--config", cfg, "--exp_dir", exp)
    return res, before


def test_base_llm_without_tokenizer(tmp_path, tiny_base):
    base = tmp_path / "base_no_tok"
    shutil.copytree(tiny_base, base)
    for f in list(base.iterdir()):
        if f.name.startswith("tokenizer") or f.name in ("vocab.json", "merges.txt"):
            f.unlink()
    res, before = _train(tmp_path, {"init": "text_llm", "base_llm": str(base), "codebook_size": 16})
    assert_one_line_error(res, str(base), "no tokenizer")
    assert_unchanged(before, tree_hashes(tmp_path))


def test_base_llm_without_weights(tmp_path, tiny_base):
    base = tmp_path / "base_no_weights"
    shutil.copytree(tiny_base, base)
    (base / "model.safetensors").unlink()
    res, before = _train(tmp_path, {"init": "text_llm", "base_llm": str(base), "codebook_size": 16})
    assert_one_line_error(res, str(base), "no weights")
    assert_unchanged(before, tree_hashes(tmp_path))


def test_base_llm_not_qwen2(tmp_path, tiny_base):
    base = tmp_path / "base_llama"
    shutil.copytree(tiny_base, base)
    cfg = base / "config.json"
    cfg.write_text(cfg.read_text().replace('"qwen2"', '"llama"'), encoding="utf-8")
    res, before = _train(tmp_path, {"init": "text_llm", "base_llm": str(base), "codebook_size": 16})
    assert_one_line_error(res, str(cfg), "llama")
    assert_unchanged(before, tree_hashes(tmp_path))


def test_checkpoint_vocabulary_does_not_match_codec(tmp_path, tiny_ckpt):
    """A 16-code checkpoint given to a run whose codec has 32 codes per codebook."""
    res, before = _train(tmp_path, {"init": str(tiny_ckpt), "codebook_size": 32})
    line = assert_one_line_error(res, str(tiny_ckpt), "16 codes")
    assert "32" in line
    assert_unchanged(before, tree_hashes(tmp_path))


def test_missing_checkpoint(tmp_path):
    missing = tmp_path / "exp_cpt" / "model"
    res, before = _train(tmp_path, {"init": str(missing), "codebook_size": 16})
    assert_one_line_error(res, str(missing))
    assert_unchanged(before, tree_hashes(tmp_path))


def test_truncated_checkpoint_weights(tmp_path, tiny_ckpt):
    """A checkpoint whose ``model.safetensors`` was cut off (disk full, partial copy)."""
    ckpt = tmp_path / "ckpt_cut"
    shutil.copytree(tiny_ckpt, ckpt)
    w = ckpt / "model.safetensors"
    w.write_bytes(w.read_bytes()[:1000])
    res, before = _train(tmp_path, {"init": str(ckpt), "codebook_size": 16})
    assert_one_line_error(res, str(ckpt))
    assert_unchanged(before, tree_hashes(tmp_path))


def test_checkpoint_tokenizer_of_other_size(tmp_path, tiny_ckpt):
    """``vocab_layout.json`` says one text vocabulary, the saved tokenizer has another."""
    from espnet_codec_lm.testing.tiny_models import make_tiny_hf_tokenizer

    ckpt = tmp_path / "ckpt_tok"
    shutil.copytree(tiny_ckpt, ckpt)
    make_tiny_hf_tokenizer(tmp_path / "other_tok", vocab_size=300)
    for f in (tmp_path / "other_tok").iterdir():
        shutil.copy(f, ckpt / f.name)
    res, before = _train(tmp_path, {"init": str(ckpt), "codebook_size": 16})
    assert_one_line_error(res, str(ckpt), "tokenizer")
    assert_unchanged(before, tree_hashes(tmp_path))


def test_tokenizer_training_text_not_utf8(tmp_path):
    """``lm_tokenizer`` on a Kaldi text file with a Latin-1 line: one line naming the file."""
    text = tmp_path / "text"
    text.write_bytes(b"utt1 the cat sat.\nutt2 caf\xe9 au lait\n")
    out = tmp_path / "bpe"
    res = call_main("lm_tokenizer", "--out", out, "--vocab-size", "50", "--kaldi", text)
    assert_one_line_error(res, str(text), "UTF-8")
    assert not out.exists()


def test_tokenizer_training_kaldi_line_without_text(tmp_path):
    text = tmp_path / "text"
    text.write_text("utt1 the cat sat.\nutt2\n", encoding="utf-8")
    res = call_main(
        "lm_tokenizer", "--out", tmp_path / "bpe", "--vocab-size", "50", "--kaldi", text
    )
    assert_one_line_error(res, f"{text}:2", "utt2")


def test_export_of_a_missing_checkpoint(tmp_path):
    res = call_main("lm_export", "--checkpoint", tmp_path / "nope", "--out", tmp_path / "hf")
    assert_one_line_error(res, str(tmp_path / "nope"))
    assert not (tmp_path / "hf").exists()
