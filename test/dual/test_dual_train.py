"""DualSpeechLM through the toolkit's trainer: the task pipeline over USToken dumps plus the
acoustic codes, the loss falls on every head, checkpoints are DualSpeechLM directories and a
resumed run continues exactly."""

from __future__ import annotations

import math
import shutil

import torch
import yaml
from dual_helpers import AC_SIZE, AC_STREAMS, UST_SIZE
from dual_helpers import train as _train

from espnet_codec_lm.dual.model import DualSpeechLM, is_dual_checkpoint
from espnet_codec_lm.train.logger import read_log


def _config(tmp_path, dual_corpus, **stop):
    ust, ac = dual_corpus
    speech = {
        "data_dir": str(ust.root / "train"),
        "codes": str(ust.root / "codes/train/codes.scp"),
        "codes_tgt": str(ust.root / "codes/train/codes_tgt.scp"),
    }
    cfg = {
        "system": "DualSpeechLM",
        "stage": "sft",
        "model": {
            "init": "none",
            "tokenizer": str(ust.root / "tokenizer"),
            "num_streams": 1,
            "codebook_size": UST_SIZE,
            "arch": {
                "hidden_size": 32,
                "num_hidden_layers": 2,
                "num_attention_heads": 4,
                "num_key_value_heads": 2,
                "intermediate_size": 64,
            },
            "dual": {
                "acoustic_streams": AC_STREAMS,
                "acoustic_codebook_size": AC_SIZE,
                "decoder": {
                    "hidden_size": 32,
                    "num_hidden_layers": 2,
                    "num_attention_heads": 4,
                    "num_key_value_heads": 2,
                    "intermediate_size": 64,
                },
            },
        },  # fmt: skip
        "data": {
            "kind": "tasks",
            "tasks": ["asr", "tts", "s2st"],
            "speech_sets": [speech],
            "valid_speech_sets": [speech],
            "valid_batches": 2,
            "acoustic": {
                "codes": [str(ac.root / "codes/train/codes.scp")],
                "codes_tgt": [str(ac.root / "codes/train/codes_tgt.scp")],
                "valid_codes": [str(ac.root / "codes/train/codes.scp")],
                "valid_codes_tgt": [str(ac.root / "codes/train/codes_tgt.scp")],
                "prompt_s": 0.5,
            },
        },
        "optim": {"lr": 3e-3, "warmup_steps": 1},
        "batch": {"global_sequences": 4, "micro_batch": 2, "max_len": 512},
        "stop": {"max_steps": 24, **stop},
        "checkpoint": {"every_steps": 6, "keep_last": 8},
        "eval": {
            "every_steps": 12,
            "decode_every_steps": 12,
            "decode_tasks": ["asr", "tts"],
            "decode_utts": 2,
        },
        "log": {"tensorboard": False},
    }
    path = tmp_path / "train.yaml"
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    return path


def test_dual_training_learns_saves_and_resumes(tmp_path, dual_corpus):
    config = _config(tmp_path, dual_corpus)
    exp = tmp_path / "exp"
    _train(config, exp)
    rows = read_log(exp / "train_log.jsonl")
    assert [r["step"] for r in rows][-1] == 24
    heads = [f"loss/head{k}" for k in range(1 + AC_STREAMS)]  # LLM, then acoustic codebooks
    first = {h: sum(r[h] for r in rows[:4] if h in r) / 4 for h in heads}
    last = {h: sum(r[h] for r in rows[-4:] if h in r) / 4 for h in heads}
    for h in heads:  # every head learns (random codes: memorising the training set)
        assert math.isfinite(last[h]) and last[h] < first[h] - 0.2, (h, first[h], last[h])
    assert first["loss/head1"] > math.log(AC_SIZE) - 1.0  # acoustic heads start near uniform
    model_dir = exp / "model"
    assert is_dual_checkpoint(model_dir)
    model = DualSpeechLM.from_pretrained(model_dir)
    assert model.acoustic.num_streams == AC_STREAMS and model.layout.num_streams == 1
    decoded = [r for r in read_log(exp / "valid_log.jsonl") if "dev_asr_wer_en" in r]
    assert decoded and "dev_tts_text_gain_en" in decoded[-1]  # the decode monitor ran on it
    valid = read_log(exp / "valid_log.jsonl")
    assert valid and all(math.isfinite(valid[-1][h]) for h in heads)

    # interrupted after the checkpoint of step 12 (later ones gone), resumed: the same losses
    exp2 = tmp_path / "exp2"
    shutil.copytree(exp, exp2, symlinks=True)
    for later in ("step_00000018", "step_00000024"):
        shutil.rmtree(exp2 / "checkpoints" / later)
    (exp2 / "checkpoints" / "latest").write_text("step_00000012\n")
    for done in ("train.done", "model"):
        p = exp2 / done
        if p.is_symlink() or p.is_file():
            p.unlink()
        elif p.is_dir():
            shutil.rmtree(p)
    _train(config, exp2)
    again = {r["step"]: r["loss"] for r in read_log(exp2 / "train_log.jsonl")}
    assert sorted(again) == list(range(1, 25))
    for r in rows:
        assert again[r["step"]] == r["loss"], r["step"]  # exact, not approximate


def test_sft_from_a_dual_checkpoint_keeps_its_acoustic_decoder(tmp_path, dual_corpus):
    config = _config(tmp_path, dual_corpus, max_steps=2)
    _train(config, tmp_path / "a")
    before = DualSpeechLM.from_pretrained(tmp_path / "a" / "model")
    _train(
        config,
        tmp_path / "b",
        f"model.init={tmp_path / 'a' / 'model'}",
        "optim.lr=1e-9",
        "optim.min_lr=1e-10",
    )
    after = DualSpeechLM.from_pretrained(tmp_path / "b" / "model")
    for (k, a), b in zip(
        before.acoustic.state_dict().items(), after.acoustic.state_dict().values()
    ):
        assert torch.allclose(a, b, atol=1e-6), k  # loaded (a new decoder would be random)
