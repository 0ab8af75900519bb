"""SIGKILL a training run mid-way, resume it, and get exactly the uninterrupted run's losses."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import torch
from safetensors.torch import load_file
from train_helpers import (
    REPO,
    lm_train_cmd,
    run_lm_train,
    subprocess_env,
    tiny_config,
    train_in_process,
)

from espnet_codec_lm.train.logger import read_log


def _rows(exp):
    return read_log(exp / "train_log.jsonl")


def _run_until(cfg, exp, log_path, steps: int, sig: int) -> subprocess.Popen:
    """Start ``lm_train`` in a subprocess, send ``sig`` once ``steps`` training rows are logged,
    and wait for it to end."""
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            lm_train_cmd(cfg, exp), env=subprocess_env(), stdout=log, stderr=log, cwd=REPO
        )
        deadline = time.time() + 180
        while len(_rows(exp)) < steps:
            assert proc.poll() is None, log_path.read_text()[-2000:]
            assert time.time() < deadline, f"training did not reach step {steps}"
            time.sleep(0.02)
        os.kill(proc.pid, sig)
        proc.wait(timeout=120)
    return proc


def test_sigkill_then_resume_reproduces_the_loss_sequence(tmp_path, tiny_base, heldout):
    cfg = tiny_config(
        tmp_path,
        tiny_base,
        heldout,
        stop={"max_steps": 10},
        checkpoint={"every_steps": 4, "keep_last": 2},
        eval={"every_steps": 5},
        log={"tensorboard": False},  # saves ~2 s of imports per process
    )
    ref = tmp_path / "uninterrupted"
    train_in_process(cfg, ref)  # same arithmetic as the subprocesses (one thread)

    exp = tmp_path / "killed"
    # kill after step 6: past the checkpoint of step 4, before the one of step 8
    proc = _run_until(cfg, exp, tmp_path / "killed.log", 6, signal.SIGKILL)
    assert proc.returncode == -signal.SIGKILL
    latest = (exp / "checkpoints" / "latest").read_text().strip()
    assert latest in ("step_00000004", "step_00000008"), latest
    assert not (exp / "train.done").exists()
    logged_before_resume = len(_rows(exp))
    assert logged_before_resume >= 6

    res = run_lm_train(cfg, exp)
    assert f"resumed from {exp / 'checkpoints' / latest}" in res.stderr

    a, b = _rows(ref), _rows(exp)
    assert [r["step"] for r in b] == list(range(1, 11))  # rows logged after the checkpoint
    for key in ("loss", "loss/head0", "loss/head1", "lr", "grad_norm", "loss/task/asr"):
        assert [r[key] for r in a] == [r[key] for r in b], key  # exact, not approximate
    va, vb = read_log(ref / "valid_log.jsonl"), read_log(exp / "valid_log.jsonl")
    assert [r["step"] for r in vb] == [0, 5, 10]
    assert [r.get("loss") for r in va] == [r.get("loss") for r in vb]
    assert [r["text_ppl"] for r in va] == [r["text_ppl"] for r in vb]

    wa = load_file(str(ref / "model" / "model.safetensors"))
    wb = load_file(str(exp / "model" / "model.safetensors"))
    assert wa.keys() == wb.keys()
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


def test_sigterm_saves_the_step_it_stopped_at_and_the_rerun_finishes_identically(
    tmp_path, tiny_base, heldout
):
    """A scheduler's SIGTERM (or Ctrl-C): the step in flight ends, its checkpoint is written
    (not only the last periodic one), the exit status says so, and the rerun resumes there."""
    cfg = tiny_config(
        tmp_path,
        tiny_base,
        heldout,
        stop={"max_steps": 8},
        checkpoint={"every_steps": 100, "keep_last": 2},  # no periodic checkpoint before the end
        eval={"every_steps": 0},
        log={"tensorboard": False},
    )
    ref = tmp_path / "uninterrupted"
    train_in_process(cfg, ref)

    exp = tmp_path / "stopped"
    proc = _run_until(cfg, exp, tmp_path / "stopped.log", 3, signal.SIGTERM)
    out = (tmp_path / "stopped.log").read_text()
    assert proc.returncode == 128 + signal.SIGTERM, out[-2000:]
    assert "lm_train: stopped by signal 15 after step" in out and "rerun to resume" in out
    latest = (exp / "checkpoints" / "latest").read_text().strip()
    stopped_at = int(latest.removeprefix("step_"))
    assert 3 <= stopped_at < 8 and stopped_at == _rows(exp)[-1]["step"]
    assert not (exp / "train.done").exists()

    res = run_lm_train(cfg, exp)
    assert f"resumed from {exp / 'checkpoints' / latest}" in res.stderr
    a, b = _rows(ref), _rows(exp)
    assert [r["step"] for r in b] == list(range(1, 9))
    assert [r["loss"] for r in a] == [r["loss"] for r in b]
    wa = load_file(str(ref / "model" / "model.safetensors"))
    wb = load_file(str(exp / "model" / "model.safetensors"))
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
