"""Two gloo processes under torchrun (FSDP2 on CPU) match one process with the same global batch.

One process: micro-batch 2, 2 accumulation steps, no sharding. Two processes: micro-batch 2 each,
1 accumulation step, FSDP2. Both see the same 4 sequences per step (the data sources number
micro-batches globally) and normalise the loss by the global target count, so the losses agree
to rounding. Observed: identical to the last bit on 2 cores; asserted: rtol 1e-5 on every loss and
1e-4 on the final weights (reduction order may differ on other machines/BLAS builds).
Then the 2-process run is resumed from its mid checkpoint (rank-0 load + broadcast into the
shards) and must reproduce its own last steps exactly.
"""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from safetensors.torch import load_file
from train_helpers import run_lm_train, tiny_config, train_in_process

from espnet_codec_lm.train.logger import read_log

RTOL = 1e-5


@pytest.mark.slow
def test_two_processes_match_one_process_and_resume(tmp_path, tiny_base):
    cfg = tiny_config(
        tmp_path,
        tiny_base,
        stop={"max_steps": 5},
        checkpoint={"every_steps": 3, "keep_last": 3},
        eval={"every_steps": 0},
        log={"tensorboard": False},
    )
    one, two = tmp_path / "one_process", tmp_path / "two_processes"
    train_in_process(cfg, one)
    res = run_lm_train(cfg, two, nproc=2)
    assert "FSDP2: 2 blocks + root sharded over 2 ranks" in res.stderr

    a, b = read_log(one / "train_log.jsonl"), read_log(two / "train_log.jsonl")
    assert [r["step"] for r in a] == [r["step"] for r in b] == [1, 2, 3, 4, 5]
    for key in ("loss", "loss/head0", "loss/head2", "loss/task/text_lm", "targets"):
        assert [r[key] for r in b] == pytest.approx([r[key] for r in a], rel=RTOL), key
    va, vb = read_log(one / "valid_log.jsonl"), read_log(two / "valid_log.jsonl")
    assert vb[-1]["loss"] == pytest.approx(va[-1]["loss"], rel=RTOL)

    wa = load_file(str(one / "model" / "model.safetensors"))
    wb = load_file(str(two / "model" / "model.safetensors"))
    assert wa.keys() == wb.keys()
    for k in wa:
        torch.testing.assert_close(wb[k], wa[k], rtol=1e-4, atol=1e-6)

    ck = two / "checkpoints"
    trainer_state = json.loads((ck / "step_00000003" / "trainer.json").read_text())
    assert trainer_state["world_size"] == 2
    assert (ck / "step_00000003" / "rank1.json").is_file()

    # crash after the step-3 checkpoint: drop what came later, resume with 2 processes
    shutil.rmtree(ck / "step_00000005")
    (ck / "latest").write_text("step_00000003\n")
    (two / "train.done").unlink()
    res = run_lm_train(cfg, two, nproc=2)
    assert "resumed from" in res.stderr
    c = read_log(two / "train_log.jsonl")
    assert [r["step"] for r in c] == [1, 2, 3, 4, 5]
    assert [r["loss"] for r in c] == [r["loss"] for r in b]
    assert [r["grad_norm"] for r in c] == [r["grad_norm"] for r in b]
