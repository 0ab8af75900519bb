"""Training on the streaming CPT source (``data.kind: shards``) under SIGKILL: killed
mid-step (with a shard window half consumed) and between a checkpoint's rename and ``latest``,
each followed by a plain rerun of the same command; the losses and weights must equal an
uninterrupted run's exactly (the resumed source re-reads its window and continues at the
saved batch)."""

from __future__ import annotations

import signal

import pytest
import torch
from rel_fault import run_forked
from rel_helpers import write_yaml
from safetensors.torch import load_file

from espnet_codec_lm.testing.tiny_models import TINY_ARCH
from espnet_codec_lm.train.logger import read_log

KILLED = -signal.SIGKILL


@pytest.fixture(scope="module")
def stream_cfg(tmp_path_factory):
    from espnet_codec_lm.tasks.shards import write_shards
    from espnet_codec_lm.testing.synthetic import make_synthetic_corpus

    root = tmp_path_factory.mktemp("rel_stream")
    make_synthetic_corpus(
        root / "corpus", speakers_per_lang=2, utts_per_speaker=6, n_text=10, n_mt=10,
        codebook_size=16,
    )  # fmt: skip
    c = root / "corpus"
    write_shards(c / "train", c / "codes/train/codes.scp", c / "shards", num_shards=6)
    return write_yaml(
        root / "train.yaml",
        {
            "system": "Speech & Text CPT",
            "seed": 0,
            "model": {
                "init": "none",
                "tokenizer": str(c / "tokenizer"),
                "codebook_size": 16,
                "arch": dict(TINY_ARCH),
            },  # fmt: skip
            "data": {
                "kind": "shards",
                "shards": [str(c / "shards")],
                "shuffle_buffer": 8,  # windows of two shards: the run crosses several
                "text_pools": [str(c / "text_pool/general.en")],
                "mt_pools": [str(c / "text_pool/mt.en-zh.tsv")],
            },
            "optim": {"lr": 3e-3, "min_lr": 3e-4, "warmup_steps": 2, "weight_decay": 0.01},
            "batch": {"global_sequences": 2, "micro_batch": 1, "max_len": 384},
            "stop": {"max_steps": 8},
            "checkpoint": {"every_steps": 3, "keep_last": 3},
            "eval": {"every_steps": 0},
            "log": {"every_steps": 1, "tensorboard": False},
        },
    )


def _train(cfg, exp, point="none", nth=1):
    exp.mkdir(parents=True, exist_ok=True)
    args = ["--config", str(cfg), "--exp_dir", str(exp)]
    return run_forked("lm_train", args, exp.parent / "log.txt", point, nth)


def _latest(exp) -> str:
    return (exp / "checkpoints" / "latest").read_text().strip()


def test_sigkill_then_resume_on_streamed_shards_gives_identical_losses(stream_cfg):
    log = stream_cfg.parent / "log.txt"
    ref = stream_cfg.parent / "uninterrupted"
    assert _train(stream_cfg, ref) == 0, log.read_text()[-3000:]

    exp = stream_cfg.parent / "killed"
    # mid-training: inside the optimiser step of step 5 (checkpoint 3 is the latest)
    assert _train(stream_cfg, exp, "optimizer_step", 5) == KILLED
    assert _latest(exp) == "step_00000003"
    # checkpoint 6 renamed into place, killed before 'latest' moved on
    assert _train(stream_cfg, exp, "ckpt_latest", 1) == KILLED
    assert _latest(exp) == "step_00000003"
    assert _train(stream_cfg, exp) == 0, log.read_text()[-3000:]

    a, b = read_log(ref / "train_log.jsonl"), read_log(exp / "train_log.jsonl")
    assert [r["step"] for r in b] == list(range(1, 9))
    for key in ("loss", "lr", "grad_norm", "targets"):
        assert [r[key] for r in a] == [r[key] for r in b], key  # exact
    wa = load_file(str(ref / "model" / "model.safetensors"))
    wb = load_file(str(exp / "model" / "model.safetensors"))
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)
