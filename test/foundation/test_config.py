"""The typed config loader: YAML -> dataclass, overrides, and one-line errors."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Optional

import pytest

from espnet_codec_lm.config import ConfigError, dump_config, load_config, parse_overrides


@dataclass
class OptimConfig:
    lr: float = 1e-3
    betas: list[float] = field(default_factory=lambda: [0.9, 0.99])


@dataclass
class ToyConfig:
    name: str = "toy"
    steps: int = 10
    use_gan: bool = True
    mode: Literal["speech", "speech_text"] = "speech_text"
    init: Optional[str] = None
    optim: OptimConfig = field(default_factory=OptimConfig)


def write(tmp_path, text):
    p = tmp_path / "conf.yaml"
    p.write_text(text, encoding="utf-8")
    return p


def test_load_nested_and_coerce(tmp_path):
    p = write(tmp_path, "steps: 5\noptim:\n  lr: 1\n  betas: [0.5, 0.9]\nmode: speech\n")
    cfg = load_config(ToyConfig, p)
    assert cfg.steps == 5 and cfg.mode == "speech"
    assert cfg.optim.lr == 1.0 and isinstance(cfg.optim.lr, float)
    assert cfg.optim.betas == [0.5, 0.9]
    assert cfg.name == "toy" and cfg.init is None


def test_overrides_dotted_and_typed(tmp_path):
    p = write(tmp_path, "steps: 5\n")
    cfg = load_config(ToyConfig, p, ["optim.lr=2e-4", "use_gan=false", "init=/x/y", "steps=7"])
    assert cfg.optim.lr == pytest.approx(2e-4)
    assert cfg.use_gan is False and cfg.init == "/x/y" and cfg.steps == 7


def test_misspelled_key_names_key_and_file(tmp_path):
    p = write(tmp_path, "optim:\n  lrr: 0.1\n")
    with pytest.raises(ConfigError) as e:
        load_config(ToyConfig, p)
    msg = str(e.value)
    assert "\n" not in msg
    assert str(p) in msg and "'optim.lrr'" in msg


def test_unknown_override_key(tmp_path):
    p = write(tmp_path, "")
    with pytest.raises(ConfigError, match="unknown key 'stepz'"):
        load_config(ToyConfig, p, ["stepz=3"])


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("steps: ten\n", "steps: expected an integer"),
        ("use_gan: 1\n", "use_gan: expected true/false"),
        ("mode: text\n", "mode: 'text' is not one of"),
        ("optim: 3\n", "optim: expected a mapping"),
    ],
)
def test_type_errors(tmp_path, text, fragment):
    with pytest.raises(ConfigError, match=fragment):
        load_config(ToyConfig, write(tmp_path, text))


def test_malformed_yaml_names_line(tmp_path):
    p = write(tmp_path, "steps: 5\noptim: [1, 2\nname: x\n")
    with pytest.raises(ConfigError) as e:
        load_config(ToyConfig, p)
    assert str(p) in str(e.value) and "line" in str(e.value) and "\n" not in str(e.value)


def test_missing_file_and_non_mapping(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(ToyConfig, tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="must be a mapping"):
        load_config(ToyConfig, write(tmp_path, "- a\n- b\n"))


def test_dump_then_load_round_trip(tmp_path):
    cfg = load_config(ToyConfig, None, ["steps=3", "optim.lr=0.5"])
    out = tmp_path / "exp" / "config.yaml"
    dump_config(cfg, out)
    assert load_config(ToyConfig, out) == cfg


def test_parse_overrides_rejects_bare_word():
    with pytest.raises(ConfigError, match="key=value"):
        parse_overrides(["steps"])


def test_exponent_without_dot_is_a_float(tmp_path):
    # YAML 1.1 parses "2e-4" as a string; a float field must still accept it
    cfg = load_config(ToyConfig, write(tmp_path, "optim:\n  lr: 2e-4\n"))
    assert cfg.optim.lr == pytest.approx(2e-4)
