"""bench/gpu_smoke.sh in its CI form (CPU, tiny shapes), so that the GPU script cannot rot."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_gpu_smoke_runs_every_step_on_cpu(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    res = subprocess.run(
        ["bash", str(REPO / "bench/gpu_smoke.sh"), "--device", "cpu", "--size", "ci",
         "--work", str(tmp_path)],
        capture_output=True, text=True, env=env, timeout=600,
    )  # fmt: skip
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    out = res.stdout
    for line in ("positions/s", "codec training:", "tokenization: 8 utterances", "KV cache"):
        assert line in out, out[-3000:]
    assert "all steps passed" in out
    assert len(list((tmp_path / "codes").glob("*.scp"))) >= 1  # the codes were written


def test_gpu_smoke_refuses_bad_options():
    res = subprocess.run(
        ["bash", str(REPO / "bench/gpu_smoke.sh"), "--device", "tpu"],
        capture_output=True,
        text=True,
    )
    assert res.returncode == 2 and "--device cuda or cpu" in res.stderr
