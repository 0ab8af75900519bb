"""Training faults: SIGKILL at several points of ``lm_train`` (mid-step, while writing a
checkpoint, between the checkpoint rename and ``latest``, during validation), each followed by
a plain rerun of the same command; the final losses, validation rows and weights must equal an
uninterrupted run's exactly. A kill while a checkpoint is being written leaves the previous one
loadable. A rerun after success changes no file."""

from __future__ import annotations

import signal

import pytest
import torch
from rel_fault import run_forked
from rel_helpers import assert_unchanged, tree_hashes, write_yaml
from safetensors.torch import load_file

from espnet_codec_lm.testing.tiny_models import TINY_CORPUS
from espnet_codec_lm.train.logger import read_log

KILLED = -signal.SIGKILL
COMPARED = ("loss", "loss/head0", "loss/head1", "loss/head2", "lr", "grad_norm", "targets")


@pytest.fixture(scope="module")
def train_cfg(tmp_path_factory, tiny_base):
    d = tmp_path_factory.mktemp("rel_train")
    heldout = d / "heldout.txt"
    heldout.write_text("\n".join(TINY_CORPUS) + "\n", encoding="utf-8")
    return write_yaml(
        d / "train.yaml",
        {
            "system": "Speech & Text CPT",
            "seed": 0,
            "model": {"init": "text_llm", "base_llm": str(tiny_base), "codebook_size": 16},
            "data": {"kind": "synthetic", "epoch_size": 32, "max_example": 24, "valid_batches": 2},
            "optim": {"lr": 3e-3, "min_lr": 3e-4, "warmup_steps": 2, "weight_decay": 0.01},
            "batch": {"global_sequences": 4, "micro_batch": 2, "max_len": 48},
            "stop": {"max_steps": 9},
            "checkpoint": {"every_steps": 3, "keep_last": 3},
            "eval": {"every_steps": 3, "text_ppl_file": str(heldout)},
            "log": {"every_steps": 1, "tensorboard": False},
        },
    )


def _train(cfg, exp, point="none", nth=1):
    exp.mkdir(parents=True, exist_ok=True)
    return run_forked(
        "lm_train",
        ["--config", str(cfg), "--exp_dir", str(exp)],
        exp.parent / "log.txt",
        point,
        nth,
    )


@pytest.fixture(scope="module")
def reference(train_cfg):
    exp = train_cfg.parent / "uninterrupted"
    assert _train(train_cfg, exp) == 0, (train_cfg.parent / "log.txt").read_text()[-3000:]
    return exp


def _latest(exp) -> str:
    return (exp / "checkpoints" / "latest").read_text().strip()


@pytest.mark.slow
def test_sigkill_at_four_points_then_resume_gives_identical_losses(train_cfg, reference):
    from espnet_codec_lm.lm.model import SpeechLM

    exp = train_cfg.parent / "killed"
    log = train_cfg.parent / "log.txt"

    # 1. mid-training: inside the optimiser step of step 5 (checkpoint 3 is the latest)
    assert _train(train_cfg, exp, "optimizer_step", 5) == KILLED
    assert _latest(exp) == "step_00000003"
    assert [r["step"] for r in read_log(exp / "train_log.jsonl")] == [1, 2, 3, 4]

    # 2. while writing checkpoint 6: model weights on disk, optimiser state not yet
    assert _train(train_cfg, exp, "ckpt_optimizer", 1) == KILLED
    assert (exp / "checkpoints" / ".tmp-step_00000006").is_dir()
    assert _latest(exp) == "step_00000003"  # the previous checkpoint is still the one named
    prev = SpeechLM.from_pretrained(exp / "checkpoints" / "step_00000003" / "model")
    assert prev.layout.codebook_size == 16  # ... and it loads

    # 3. checkpoint 6 renamed into place, killed before 'latest' moved on
    assert _train(train_cfg, exp, "ckpt_latest", 1) == KILLED
    assert not (exp / "checkpoints" / ".tmp-step_00000006").exists()  # cleaned at the restart
    assert (exp / "checkpoints" / "step_00000006" / "trainer.json").is_file()
    assert _latest(exp) == "step_00000003"

    # 4. during the final validation (after step 9's row was logged)
    assert _train(train_cfg, exp, "validate", 2) == KILLED
    assert _latest(exp) == "step_00000006"
    assert not (exp / "train.done").exists()

    # the same command once more finishes the run
    assert _train(train_cfg, exp) == 0, log.read_text()[-3000:]
    a, b = read_log(reference / "train_log.jsonl"), read_log(exp / "train_log.jsonl")
    assert [r["step"] for r in b] == list(range(1, 10))
    for key in COMPARED:
        assert [r[key] for r in a] == [r[key] for r in b], key  # exact
    va, vb = read_log(reference / "valid_log.jsonl"), read_log(exp / "valid_log.jsonl")
    assert [r["step"] for r in vb] == [0, 3, 6, 9]
    assert [r.get("loss") for r in va] == [r.get("loss") for r in vb]
    assert [r["text_ppl"] for r in va] == [r["text_ppl"] for r in vb]
    wa = load_file(str(reference / "model" / "model.safetensors"))
    wb = load_file(str(exp / "model" / "model.safetensors"))
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


@pytest.mark.slow
def test_rerun_after_success_changes_nothing(train_cfg, reference):
    before = tree_hashes(reference)
    assert _train(train_cfg, reference) == 0
    after = tree_hashes(reference)
    assert_unchanged(before, after)
    assert set(after) == set(before), sorted(set(after) - set(before))


def test_same_seed_twice_gives_identical_losses_and_weights(train_cfg, reference):
    """A second uninterrupted run with the same seed: the same log values and weight bytes."""
    exp = train_cfg.parent / "again"
    assert _train(train_cfg, exp, "none") == 0
    a, b = read_log(reference / "train_log.jsonl"), read_log(exp / "train_log.jsonl")
    for key in COMPARED:
        assert [r[key] for r in a] == [r[key] for r in b], key
    ra = (reference / "model" / "model.safetensors").read_bytes()
    assert ra == (exp / "model" / "model.safetensors").read_bytes()
