"""Codec training under torchrun: two gloo processes (DDP, one thread each) compute what one
process computes with the same global batch, write one checkpoint (rank 0), and resume.

Both runs draw the same global batch of 4 segments per step (every rank draws it, each trains on
its half); DDP averages the gradients, the quantiser gathers the frames of the whole batch for its
codebook updates (k-means, EMA, dead codes) and the commitment loss is normalised by the global
frame count, so the logged losses (means over the ranks) agree with one process to rounding. The
GAN is on from step 0, so the discriminators' replicas train too.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from codec_testutil import tiny_train_config

from espnet_codec_lm.codec.model import load_codec
from espnet_codec_lm.codec.trainer import train
from espnet_codec_lm.config import dump_config

REPO = Path(__file__).resolve().parents[2]
KEYS = ("mel", "commit", "g_loss", "d_loss", "adv", "feat", "grad_norm")


def _rows(exp: Path) -> dict[int, dict]:
    lines = (exp / "train_log.jsonl").read_text().splitlines()
    return {r["step"]: r for r in map(json.loads, lines)}  # a resumed step overwrites


def _torchrun(config: Path, exp: Path, *overrides: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1", ESPNET_CODEC_LM_NO_PROGRESS="1")
    env["PYTHONPATH"] = str(REPO)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    cmd += ["-m", "espnet_codec_lm.bin.codec_train", "--config", str(config)]
    cmd += ["--exp_dir", str(exp), *overrides]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=400, cwd=REPO)
    assert res.returncode == 0, res.stderr[-3000:]
    return res


@pytest.mark.slow
def test_two_processes_match_one_process_and_resume(data_dir, tmp_path):
    cfg = tiny_train_config(adversarial=True)
    cfg.loss.adv_start_step = 0
    cfg.data.train = str(data_dir)
    cfg.device, cfg.max_steps, cfg.log_every, cfg.ckpt_every_s = "cpu", 4, 1, 1e9
    config = tmp_path / "codec.yaml"
    dump_config(cfg, config)

    one = tmp_path / "one"
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        train(cfg, one)
    finally:
        torch.set_num_threads(before)

    two = tmp_path / "two"
    res = _torchrun(config, two, "max_steps=2")  # stops at step 2: one checkpoint
    assert "DDP over 2 processes (gloo)" in res.stderr
    assert json.loads((two / "checkpoint" / "trainer.json").read_text())["step"] == 2
    assert sorted(p.name for p in (two / "snapshots").iterdir()) == ["step00000002.safetensors"]
    assert list(two.glob("checkpoint*")) == [two / "checkpoint"]
    res = _torchrun(config, two)  # resumes to step 4
    assert "resumed from" in res.stderr

    a, b = _rows(one), _rows(two)
    assert sorted(a) == sorted(b) == [1, 2, 3, 4]
    assert all(math.isfinite(b[step][key]) for step in b for key in KEYS)
    # the first step (all losses but the generator's adversarial one, see below), and the
    # reconstruction losses and the discriminator loss of every step, resumed ones included
    # (observed: <= 2e-5 relative)
    checked = [(1, k) for k in KEYS if k != "adv"]
    checked += [(s, k) for s in (2, 3, 4) for k in ("mel", "commit", "d_loss")]
    for step, key in checked:
        assert b[step][key] == pytest.approx(a[step][key], rel=1e-4), (step, key)
    # "adv" is measured after the discriminators' first AdamW step, whose update of an output
    # bias is +-lr whatever the size of its gradient; the hinge loss's gradient for that bias
    # is 0 in exact arithmetic (-1 + 1), so rounding picks the sign: observed 2e-4 relative
    # at step 1, up to 1.5e-2 at step 4 (d_loss, blind to that bias, agrees to 1e-5)
    for step in a:
        assert b[step]["adv"] == pytest.approx(a[step]["adv"], rel=0.05), step
    # only rank 0 wrote: one log line per step, a loadable codec dir of the last step
    assert len((two / "train_log.jsonl").read_text().splitlines()) == 4
    assert json.loads((two / "codec" / "train_state.json").read_text())["step"] == 4
    codec = load_codec(two / "codec")
    assert codec.encode(torch.zeros(3200)).shape == (8, 10)


def test_two_processes_factorized_codebooks(data_dir, tmp_path):
    """DAC's factorised codebooks have projections, unused beyond the batch's largest n_q: DDP
    runs with ``find_unused_parameters``; the run finishes with finite losses. (Not marked slow,
    ~10 s: the quick suite keeps one torchrun run of the codec trainer.)"""
    cfg = tiny_train_config()
    cfg.model.quantizer.kind = "factorized"
    cfg.model.quantizer.bandwidths = [0.5, 1.0]  # n_q 1 or 2 of 8: six codebooks idle
    cfg.data.train = str(data_dir)
    cfg.device, cfg.max_steps, cfg.log_every, cfg.ckpt_every_s = "cpu", 2, 1, 1e9
    config = tmp_path / "codec.yaml"
    dump_config(cfg, config)
    _torchrun(config, tmp_path / "exp")
    rows = _rows(tmp_path / "exp")
    assert sorted(rows) == [1, 2]
    assert all(math.isfinite(r[k]) for r in rows.values() for k in ("mel", "commit", "g_loss"))


@pytest.mark.slow
def test_sigterm_to_torchrun_stops_every_rank_at_one_step(data_dir, tmp_path):
    """SIGTERM to torchrun (which passes it to its workers): the ranks agree to stop after the
    same step, rank 0 checkpoints it, nobody hangs in a collective."""
    import signal
    import time

    cfg = tiny_train_config()
    cfg.data.train = str(data_dir)
    cfg.device, cfg.max_steps, cfg.log_every, cfg.ckpt_every_s = "cpu", 10_000, 1, 1e9
    config = tmp_path / "codec.yaml"
    dump_config(cfg, config)
    exp = tmp_path / "exp"
    env = dict(os.environ, OMP_NUM_THREADS="1", ESPNET_CODEC_LM_NO_PROGRESS="1")
    env["PYTHONPATH"] = str(REPO)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    cmd += ["-m", "espnet_codec_lm.bin.codec_train", "--config", str(config), "--exp_dir", str(exp)]
    proc = subprocess.Popen(cmd, env=env, cwd=REPO, stderr=subprocess.PIPE, text=True)
    log = exp / "train_log.jsonl"
    deadline = time.time() + 300
    while not (log.is_file() and len(log.read_text().splitlines()) >= 3):
        assert proc.poll() is None and time.time() < deadline, "training did not start"
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    step = json.loads((exp / "checkpoint" / "trainer.json").read_text())["step"]
    assert 3 <= step < 10_000
    assert max(_rows(exp)) == step, err[-2000:]
    assert "stopped by signal" in err, err[-2000:]
