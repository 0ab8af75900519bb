"""The trainer in one process on a tiny SpeechLM: it learns, records, reloads and refuses."""

from __future__ import annotations

import math
import subprocess

import pytest
import torch
import yaml
from train_helpers import lm_train_cmd, subprocess_env, tiny_config, train_in_process

from espnet_codec_lm.train.logger import read_log


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_base, heldout):
    """A 16-step CPT run (text_llm init, synthetic data, held-out text monitor)."""
    d = tmp_path_factory.mktemp("cpt")
    cfg = tiny_config(
        d,
        tiny_base,
        heldout,
        stop={"max_steps": 16},
        optim={"lr": 1e-2, "min_lr": 1e-3, "warmup_steps": 2},
        checkpoint={"every_steps": 8},
        eval={"every_steps": 8},
    )
    result = train_in_process(cfg, d / "exp")
    return cfg, d / "exp", result


def test_loss_falls(trained):
    _, exp, _ = trained
    rows = read_log(exp / "train_log.jsonl")
    assert [r["step"] for r in rows] == list(range(1, 17))
    first = sum(r["loss"] for r in rows[:3]) / 3
    last = sum(r["loss"] for r in rows[-3:]) / 3
    assert last < 0.8 * first, (first, last)
    valid = read_log(exp / "valid_log.jsonl")
    assert [r["step"] for r in valid] == [0, 8, 16]
    assert valid[2]["loss"] < valid[1]["loss"]
    for r in rows:
        assert r["grad_norm"] > 0 and r["positions_per_s"] > 0 and 0 <= r["data_share"] < 1
        assert {"loss/head0", "loss/head1", "loss/head2", "loss/task/asr"} <= set(r)
    assert rows[1]["lr"] == pytest.approx(1e-2)  # peak at the end of warm-up
    assert rows[-1]["lr"] < rows[1]["lr"]


def test_records_written(trained, heldout):
    _, exp, _ = trained
    system = yaml.safe_load((exp / "system.yaml").read_text())
    assert system == {"system": "Speech & Text CPT", "stage": "cpt"}
    runs = yaml.safe_load((exp / "run_info.yaml").read_text())  # one (re)start: provenance
    assert [r["from_step"] for r in runs] == [0] and runs[0]["git_commit"] and runs[0]["started"]
    ppl = yaml.safe_load((exp / "ppl.yaml").read_text())
    assert ppl["text_ppl_file"] == str(heldout) and ppl["text_ppl_tokens"] > 50
    assert [h["step"] for h in ppl["text_ppl_history"]] == [0, 8, 16]
    assert ppl["text_ppl_init"] == ppl["text_ppl_history"][0]["ppl"]
    assert ppl["text_ppl_final"] == ppl["text_ppl_history"][-1]["ppl"]
    # the full-vocabulary softmax only adds mass to the denominator: never a lower perplexity
    assert ppl["text_ppl_fullvocab_init"] > ppl["text_ppl_init"]
    assert ppl["text_ppl_fullvocab_final"] > ppl["text_ppl_final"]
    png = (exp / "loss_curve.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(exp / "tensorboard"))
    acc.Reload()
    tags = set(acc.Tags()["scalars"])
    for tag in ("loss", "lr", "grad_norm", "positions_per_s", "loss/head1", "loss/task/asr"):
        assert f"train/{tag}" in tags
    assert {"valid/loss/task/text_lm", "valid/text_ppl"} <= tags
    assert len(acc.Scalars("train/loss")) == 16
    assert (exp / "checkpoints" / "latest").read_text().strip() == "step_00000016"
    assert yaml.safe_load((exp / "config.yaml").read_text())["stop"]["max_steps"] == 16


def test_text_ppl_init_equals_the_base_llm_perplexity(trained, tiny_base, heldout):
    """text_llm init keeps the base's text behaviour: the monitor's first value is the base
    Qwen2's own perplexity on the held-out lines, computed here with transformers' loss."""
    from transformers import Qwen2ForCausalLM

    from espnet_codec_lm.lm.tokenizer import load_text_tokenizer

    _, exp, _ = trained
    base = Qwen2ForCausalLM.from_pretrained(str(tiny_base), dtype=torch.float32).eval()
    tok = load_text_tokenizer(tiny_base)
    nll, n = 0.0, 0
    with torch.no_grad():
        for line in heldout.read_text().splitlines():
            ids = torch.tensor([tok.encode(line)])
            loss = base(input_ids=ids, labels=ids).loss  # mean over len - 1 predictions
            nll += float(loss) * (ids.shape[1] - 1)
            n += ids.shape[1] - 1
    ppl = yaml.safe_load((exp / "ppl.yaml").read_text())
    assert ppl["text_ppl_tokens"] == n
    assert ppl["text_ppl_init"] == pytest.approx(math.exp(nll / n), rel=1e-4)


def test_final_model_loads_and_rerun_is_skipped(trained):
    from safetensors.torch import load_file

    from espnet_codec_lm.lm.model import SpeechLM

    cfg, exp, _ = trained
    model = SpeechLM.from_pretrained(exp / "model")
    assert model.meta["init"] == "text_llm"
    final = load_file(str(exp / "checkpoints" / "step_00000016" / "model" / "model.safetensors"))
    sd = model.lm.state_dict()
    assert all(torch.equal(final[k], sd[k]) for k in final)
    again = train_in_process(cfg, exp)
    assert again.get("skipped") is True
    assert len(read_log(exp / "train_log.jsonl")) == 16


def test_sft_from_the_cpt_model_and_epoch_stopping(trained, tmp_path, tiny_base):
    """SFT initialised from the CPT run's model/; stops after one epoch (8 micro-batches of 2
    rows, 4 rows a step -> 4 steps)."""
    _, cpt_exp, _ = trained
    cfg = tiny_config(
        tmp_path,
        tiny_base,
        system="Speech & Text CPT",
        stage="sft",
        model={"init": str(cpt_exp / "model"), "base_llm": None, "codebook_size": 16},
        data={"epoch_size": 8},
        stop={"max_steps": None, "max_epochs": 1.0},
        checkpoint={"every_steps": 100},
        eval={"every_steps": 0},
        log={"tensorboard": False},
    )
    train_in_process(cfg, tmp_path / "sft")
    rows = read_log(tmp_path / "sft" / "train_log.jsonl")
    assert [r["step"] for r in rows] == [1, 2, 3, 4]
    assert yaml.safe_load((tmp_path / "sft" / "system.yaml").read_text())["stage"] == "sft"


def test_batch_that_does_not_divide_is_refused(tmp_path, tiny_base):
    cfg = tiny_config(tmp_path, tiny_base, batch={"global_sequences": 5, "micro_batch": 2})
    with pytest.raises(ValueError, match="not a multiple of micro_batch"):
        train_in_process(cfg, tmp_path / "exp")


def test_cli_reports_config_errors_on_one_line(tmp_path, tiny_base):
    cfg = tiny_config(tmp_path, tiny_base)
    res = subprocess.run(
        lm_train_cmd(cfg, tmp_path / "exp", "optim.lrr=1"),
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 1
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "unknown key 'optim.lrr'" in lines[0] and str(cfg) in lines[0]
