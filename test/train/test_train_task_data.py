"""The trainer on the real task pipeline (espnet_codec_lm.tasks) over a synthetic corpus."""

from __future__ import annotations

import pytest
import yaml
from train_helpers import train_in_process

from espnet_codec_lm.config import ConfigError
from espnet_codec_lm.train.logger import read_log


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    from espnet_codec_lm.tasks.synthetic import make_synthetic_corpus

    root = tmp_path_factory.mktemp("corpus")
    make_synthetic_corpus(
        root, speakers_per_lang=2, utts_per_speaker=4, n_text=10, n_mt=10, codebook_size=16
    )
    return root


def _config(tmp_path, corpus, stage="cpt", **data):
    speech = {
        "data_dir": str(corpus / "train"),
        "codes": str(corpus / "codes/train/codes.scp"),
        "codes_tgt": str(corpus / "codes/train/codes_tgt.scp"),
    }
    cfg = {
        "system": "Speech & Text CPT",
        "stage": stage,
        "model": {
            "init": "none",
            "tokenizer": str(corpus / "tokenizer"),
            "codebook_size": 16,
            "arch": {
                "hidden_size": 32,
                "num_hidden_layers": 2,
                "num_attention_heads": 4,
                "num_key_value_heads": 2,
                "intermediate_size": 64,
            },
        },
        "data": {
            "kind": "tasks",
            "speech_sets": [speech],
            "text_pools": [str(corpus / "text_pool/general.en")],
            "mt_pools": [str(corpus / "text_pool/mt.en-zh.tsv")],
            "valid_speech_sets": [speech],
            "valid_batches": 2,
            **data,
        },
        "optim": {"lr": 3e-3, "warmup_steps": 1},
        "batch": {"global_sequences": 4, "micro_batch": 2, "max_len": 256},
        "stop": {"max_steps": 3},
        "checkpoint": {"every_steps": 100},
        "eval": {"every_steps": 0, "text_ppl_file": str(corpus / "text_pool/general.zh")},
        "log": {"tensorboard": False},
    }
    path = tmp_path / "train.yaml"
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    return path


def test_cpt_on_the_task_mixture_logs_real_task_names(tmp_path, corpus):
    train_in_process(_config(tmp_path, corpus), tmp_path / "exp")
    rows = read_log(tmp_path / "exp" / "train_log.jsonl")
    assert [r["step"] for r in rows] == [1, 2, 3]
    tasks = {k[len("loss/task/") :] for r in rows for k in r if k.startswith("loss/task/")}
    from espnet_codec_lm.tasks.templates import TASK_NAMES

    assert tasks <= set(TASK_NAMES) and len(tasks) >= 3  # the mixture's tasks, by name
    valid = read_log(tmp_path / "exp" / "valid_log.jsonl")
    assert valid[-1]["step"] == 3 and any(k.startswith("loss/task/") for k in valid[-1])
    state = yaml.safe_load((tmp_path / "exp" / "ppl.yaml").read_text())
    assert state["text_ppl_tokens"] > 0


def test_sft_asr_trains_only_asr(tmp_path, corpus):
    train_in_process(_config(tmp_path, corpus, stage="sft", tasks=["asr"]), tmp_path / "exp")
    rows = read_log(tmp_path / "exp" / "train_log.jsonl")
    assert {k for r in rows for k in r if k.startswith("loss/task/")} == {"loss/task/asr"}


def test_data_section_cannot_contradict_the_trainer(tmp_path, corpus):
    with pytest.raises(ConfigError, match="data.max_len=128 conflicts"):
        train_in_process(_config(tmp_path, corpus, max_len=128), tmp_path / "exp")
