"""Config stage: malformed YAML, unknown keys, wrong types, bad overrides, missing or non-UTF-8
files. Every entry point reads one YAML through ``espnet_codec_lm.config``; each case must end
with one line naming the file (and line or key) and leave an existing experiment untouched."""

from __future__ import annotations

import pytest
from rel_helpers import assert_one_line_error, assert_unchanged, call_main, tree_hashes, write_yaml


@pytest.fixture
def exp(tmp_path):
    """An experiment directory that already holds outputs of an earlier run."""
    d = tmp_path / "exp"
    d.mkdir()
    (d / "config.yaml").write_text("seed: 0\n", encoding="utf-8")
    (d / "train_log.jsonl").write_text('{"step": 1, "loss": 3.0}\n', encoding="utf-8")
    return d


def _lm_train(cfg, exp, *overrides):
    return call_main("lm_train", "--config", cfg, "--exp_dir", exp, *overrides)


def test_malformed_yaml_names_file_and_line(tmp_path, exp):
    cfg = tmp_path / "train.yaml"
    cfg.write_text("seed: 0\nstop:\n  max_steps: [1, 2\noptim: {lr: 1e-3}\n", encoding="utf-8")
    before = tree_hashes(tmp_path)
    line = assert_one_line_error(_lm_train(cfg, exp), str(cfg), "malformed YAML")
    assert " line " in line
    assert_unchanged(before, tree_hashes(tmp_path))


def test_unknown_key_names_key_and_file(tmp_path, exp):
    cfg = write_yaml(tmp_path / "train.yaml", {"seed": 0, "optim": {"lr": 1e-3, "lr_mni": 1e-4}})
    before = tree_hashes(tmp_path)
    assert_one_line_error(_lm_train(cfg, exp), str(cfg), "unknown key 'optim.lr_mni'")
    assert_unchanged(before, tree_hashes(tmp_path))


def test_wrong_type_names_key(tmp_path, exp):
    cfg = write_yaml(tmp_path / "train.yaml", {"stop": {"max_steps": "ten"}})
    before = tree_hashes(tmp_path)
    assert_one_line_error(_lm_train(cfg, exp), str(cfg), "stop.max_steps", "integer")
    assert_unchanged(before, tree_hashes(tmp_path))


def test_unknown_override_key(tmp_path, exp):
    cfg = write_yaml(tmp_path / "train.yaml", {"stop": {"max_steps": 2}})
    before = tree_hashes(tmp_path)
    res = _lm_train(cfg, exp, "optim.lrr=0.1")
    assert_one_line_error(res, str(cfg), "command-line overrides", "optim.lrr")
    assert_unchanged(before, tree_hashes(tmp_path))


def test_unknown_key_in_model_section(tmp_path, exp, tiny_base):
    """``model:`` is validated by the LM's own dataclass after the trainer config: the error must
    still be one line naming the key."""
    cfg = write_yaml(
        tmp_path / "train.yaml",
        {
            "stop": {"max_steps": 2},
            "model": {"init": "text_llm", "base_llm": str(tiny_base), "codebok_size": 16},
        },
    )
    before = tree_hashes(tmp_path)
    assert_one_line_error(_lm_train(cfg, exp), "codebok_size")
    assert_unchanged(before, tree_hashes(tmp_path))


def test_missing_and_non_utf8_config(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    missing = tmp_path / "nope.yaml"
    res = call_main("validate_data_dir", data, "--config", missing)
    assert_one_line_error(res, str(missing), "not found")
    bad = tmp_path / "latin1.yaml"
    bad.write_bytes("text_unit: caf\xe9\n".encode("latin-1"))
    res = call_main("validate_data_dir", data, "--config", bad)
    assert_one_line_error(res, str(bad), "UTF-8")


def test_top_level_not_a_mapping(tmp_path):
    cfg = tmp_path / "list.yaml"
    cfg.write_text("- check_audio\n- skip_bad\n", encoding="utf-8")
    res = call_main("validate_data_dir", tmp_path, "--config", cfg)
    assert_one_line_error(res, str(cfg), "mapping")


def test_bad_literal_choice_in_codec_config(tmp_path):
    cfg = write_yaml(tmp_path / "codec.yaml", {"model": {"encoder": {"type": "transformer"}}})
    res = call_main("codec_train", "--config", cfg, "--exp_dir", tmp_path / "exp")
    assert_one_line_error(res, str(cfg), "model.encoder.type", "transformer")
    assert not (tmp_path / "exp" / "config.yaml").exists()
