"""ustokenizer_train: outputs, logs, exact resume after a SIGTERM, one-line errors."""

from __future__ import annotations

import json
import os
import signal

import pytest
from ustok_testutil import tiny_train_config

from espnet_codec_lm.bin import ustokenizer_train
from espnet_codec_lm.config import dump_config
from espnet_codec_lm.ustokenizer.trainer import USTokenizerTrainer, train
from espnet_codec_lm.utils import checkpoint_io as cio


def _state(exp):
    return {
        **cio.read_tensors(exp / "checkpoint/model.safetensors"),
        **{
            f"opt/{k}": v
            for k, v in cio.read_tensors(exp / "checkpoint/optimizer.safetensors").items()
        },
    }


def test_sigterm_then_resume_equals_an_uninterrupted_run(text_llm, data_dir, tmp_path, monkeypatch):
    cfg = tiny_train_config(text_llm, data_dir)
    cfg.ckpt_every_s = 1e9  # checkpoint only at the end or on a signal
    train(cfg, tmp_path / "a", command="test")
    for name in (
        "checkpoint/trainer.json",
        "model/model.safetensors",
        "config.yaml",
        "run_info.yaml",
    ):
        assert (tmp_path / "a" / name).is_file(), name
    rows = [json.loads(line) for line in (tmp_path / "a/train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [2, 4, 6]
    assert 0 < rows[0]["codebook_used"] <= 1 and "valid_text" in rows[0] and "text" in rows[0]

    real_step = USTokenizerTrainer.train_step

    def step_then_term(self, batch):
        out = real_step(self, batch)
        if self.step == 3:
            os.kill(os.getpid(), signal.SIGTERM)  # as a scheduler or `kill` would
        return out

    monkeypatch.setattr(USTokenizerTrainer, "train_step", step_then_term)
    assert train(cfg, tmp_path / "b").step == 3
    assert cio.read_json(tmp_path / "b/checkpoint/trainer.json")["step"] == 3
    monkeypatch.setattr(USTokenizerTrainer, "train_step", real_step)
    assert train(cfg, tmp_path / "b").step == 6  # the rerun resumes
    a, b = _state(tmp_path / "a"), _state(tmp_path / "b")
    assert a.keys() == b.keys()
    assert all((a[k] == b[k]).all() for k in a), [k for k in a if not (a[k] == b[k]).all()]
    assert cio.read_json(tmp_path / "b/model/train_state.json")["step"] == 6


def test_cli_errors_are_one_line(text_llm, data_dir, tmp_path, capsys):
    cfg = tiny_train_config(text_llm, data_dir)
    conf = tmp_path / "c.yaml"
    dump_config(cfg, conf)
    bad = tmp_path / "bad"
    bad.mkdir()
    for f in ("wav.scp", "utt2spk", "text"):
        (bad / f).write_text((data_dir / f).read_text())
    lines = (bad / "wav.scp").read_text().splitlines()
    utt = lines[1].split()[0]
    lines[1] = f"{utt} {tmp_path}/missing.wav"
    (bad / "wav.scp").write_text("\n".join(lines) + "\n")
    rc = ustokenizer_train.main(
        ["--config", str(conf), "--exp_dir", str(tmp_path / "e"), f"data.train={bad}"]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 1 and utt in err[-1] and "Traceback" not in "".join(err)
    rc = ustokenizer_train.main(
        ["--config", str(conf), "--exp_dir", str(tmp_path / "e"), "model.text_llm.path=/nope"]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 1 and "/nope" in err[-1]
    with pytest.raises(SystemExit):
        ustokenizer_train.main([])
