"""Config drift: a key given twice in a YAML is refused (file, line, dotted key); a nonsensical
step count is refused before anything is written; resuming an LM or codec training run with a
config that differs from the experiment's ``config.yaml`` is refused (naming the keys) unless
``--allow_config_change``, which logs each difference; the stopping rule may change (logged)."""

from __future__ import annotations

import pytest
import yaml
from rel_helpers import (
    assert_one_line_error,
    assert_unchanged,
    call_main,
    tiny_codec_train_config,
    tree_hashes,
    write_yaml,
)

from espnet_codec_lm.config import ConfigError, read_yaml
from espnet_codec_lm.testing.audio import make_data_dir


@pytest.mark.parametrize(
    "text, key, line, first",
    [
        ("seed: 0\nstop:\n  max_steps: 2\nseed: 1\n", "seed", 4, 1),
        ("optim:\n  lr: 1.0e-3\n  warmup_steps: 2\n  lr: 2.0e-3\n", "optim.lr", 4, 2),
        ("model:\n  heads:\n    - {a: 1, a: 2}\n", "model.heads[0].a", 3, 3),
    ],
)
def test_duplicate_yaml_key_names_file_line_and_key(tmp_path, text, key, line, first):
    cfg = tmp_path / "train.yaml"
    cfg.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as e:
        read_yaml(cfg)
    assert str(e.value) == f"{cfg}: line {line} duplicate key '{key}' (first on line {first})"
    exp = tmp_path / "exp"
    res = call_main("lm_train", "--config", cfg, "--exp_dir", exp)
    assert_one_line_error(res, str(cfg), f"duplicate key '{key}'")
    assert not exp.exists()


def test_duplicate_key_in_every_entry_points_config(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("max_steps: 3\nlog_every: 1\nmax_steps: 30\n", encoding="utf-8")
    res = call_main("codec_train", "--config", cfg, "--exp_dir", tmp_path / "exp")
    assert_one_line_error(res, str(cfg), "line 3", "duplicate key 'max_steps'")
    cfg.write_text("skip_bad: false\nskip_bad: true\n", encoding="utf-8")
    res = call_main("validate_data_dir", tmp_path, "--config", cfg)
    assert_one_line_error(res, str(cfg), "line 2", "duplicate key 'skip_bad'")


@pytest.mark.parametrize("value", ["0", "-3"])
def test_nonsensical_step_counts_are_refused(tmp_path, value):
    cfg = write_yaml(tmp_path / "lm.yaml", {"stop": {"max_steps": 2}})
    exp = tmp_path / "exp"
    res = call_main("lm_train", "--config", cfg, "--exp_dir", exp, f"stop.max_steps={value}")
    assert_one_line_error(res, str(cfg), f"stop.max_steps must be >= 1, got {value}")
    res = call_main("lm_train", "--config", cfg, "--exp_dir", exp, f"log.every_steps={value}")
    assert_one_line_error(res, str(cfg), "log.every_steps must be >= 1")
    ccfg = write_yaml(tmp_path / "codec.yaml", {"max_steps": 2})
    res = call_main("codec_train", "--config", ccfg, "--exp_dir", exp, f"max_steps={value}")
    assert_one_line_error(res, str(ccfg), f"max_steps must be >= 1, got {value}")
    assert not exp.exists()


# --- resume with a changed config --------------------------------------------------------------
@pytest.fixture(scope="module")
def lm_cfg(tmp_path_factory, tiny_base):
    d = tmp_path_factory.mktemp("rel_drift")
    return write_yaml(
        d / "train.yaml",
        {
            "seed": 0,
            "model": {"init": "text_llm", "base_llm": str(tiny_base), "codebook_size": 16},
            "data": {"kind": "synthetic", "epoch_size": 16, "max_example": 24, "valid_batches": 1},
            "optim": {"lr": 3e-3, "min_lr": 3e-4, "warmup_steps": 1},
            "batch": {"global_sequences": 2, "micro_batch": 2, "max_len": 48},
            "stop": {"max_steps": 2},
            "checkpoint": {"every_steps": 1, "keep_last": 2},
            "eval": {"every_steps": 0},
            "log": {"every_steps": 1, "tensorboard": False},
        },
    )


def _lm_train(cfg, exp, *args):
    return call_main("lm_train", "--config", cfg, "--exp_dir", exp, *args)


def test_lm_resume_with_changed_config(tmp_path, lm_cfg):
    exp = tmp_path / "exp"
    assert _lm_train(lm_cfg, exp).rc == 0
    before = tree_hashes(exp)
    # an optimiser setting changed: refused, naming the saved config and the key; nothing written
    res = _lm_train(lm_cfg, exp, "optim.lr=1e-2", "batch.micro_batch=1")
    line = assert_one_line_error(res, str(exp / "config.yaml"), "optim.lr: 0.003 -> 0.01")
    assert "batch.micro_batch: 2 -> 1" in line and "--allow_config_change" in line
    assert_unchanged(before, tree_hashes(exp))
    assert set(tree_hashes(exp)) == set(before)
    # the stopping rule may change: the run goes on, and the change is logged
    res = _lm_train(lm_cfg, exp, "stop.max_steps=3")
    assert res.rc == 0, res.text
    assert "config change on resume (allowed): stop.max_steps: 2 -> 3" in res.text
    assert (exp / "train.done").read_text().strip() == "3"
    # told to: resumes with the new setting, each difference logged, config.yaml rewritten
    res = _lm_train(lm_cfg, exp, "stop.max_steps=4", "optim.lr=1e-2", "--allow_config_change")
    assert res.rc == 0, res.text
    assert "config change on resume (--allow_config_change): optim.lr: 0.003 -> 0.01" in res.text
    assert yaml.safe_load((exp / "config.yaml").read_text())["optim"]["lr"] == 0.01
    assert (exp / "train.done").read_text().strip() == "4"


def _codec_cfg(path, data, **top):
    return tiny_codec_train_config(path, data, log_every=1, **top)


def test_codec_resume_with_changed_config(tmp_path):
    data = make_data_dir(tmp_path / "data", n_utts=2, seconds=0.5)
    cfg = _codec_cfg(tmp_path / "codec.yaml", data)
    exp = tmp_path / "exp"
    assert call_main("codec_train", "--config", cfg, "--exp_dir", exp).rc == 0
    before = tree_hashes(exp)
    res = call_main("codec_train", "--config", cfg, "--exp_dir", exp, "optim.lr=1e-3")
    assert_one_line_error(res, str(exp / "config.yaml"), "optim.lr: 0.0002 -> 0.001")
    assert_unchanged(before, tree_hashes(exp))
    res = call_main("codec_train", "--config", cfg, "--exp_dir", exp, "max_steps=2")
    assert res.rc == 0, res.text
    assert "config change on resume (allowed): max_steps: 1 -> 2" in res.text
    res = call_main("codec_train", "--config", cfg, "--exp_dir", exp, "max_steps=3",
                    "optim.lr=1e-3", "--allow_config_change")  # fmt: skip
    assert res.rc == 0, res.text
    assert "(--allow_config_change): optim.lr: 0.0002 -> 0.001" in res.text
    assert yaml.safe_load((exp / "config.yaml").read_text())["optim"]["lr"] == 0.001
