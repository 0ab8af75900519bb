"""Every LM training config under egs2/ loads, and the paper-scale ones carry the paper's numbers."""

from __future__ import annotations

from pathlib import Path

import pytest

from espnet_codec_lm.config import config_from_dict, load_config
from espnet_codec_lm.lm.config import SpeechLMConfig
from espnet_codec_lm.tasks.dataset import DataConfig
from espnet_codec_lm.tasks.streaming import StreamDataConfig
from espnet_codec_lm.train.config import LMTrainConfig
from espnet_codec_lm.train.trainer import accumulation_steps

CONF = Path(__file__).resolve().parents[2] / "egs2/TEMPLATE/codec_lm1/conf/lm"
CONFIGS = sorted(CONF.glob("*.yaml"))
TASKS = ("asr", "tts", "s2tt", "s2st")


def test_the_expected_configs_exist():
    names = {p.name for p in CONFIGS}
    expected = {
        "cpt_debug.yaml",
        "cpt_speech_qwen1.5_0.5b.yaml",
        "cpt_speech_text_qwen1.5_0.5b.yaml",
    }
    expected |= {f"sft_{t}_{s}.yaml" for t in TASKS for s in ("debug", "qwen1.5_0.5b")}
    assert expected <= names


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_config_loads_with_its_sections(path):
    cfg = load_config(LMTrainConfig, path)
    model, data = dict(cfg.model), dict(cfg.data)
    dual = model.pop("dual", None)  # DualSpeechLM: its acoustic side (LMTrainConfig types it)
    assert (dual is not None) == ("acoustic" in data) == path.name.startswith("dual_")
    data.pop("acoustic", None)
    config_from_dict(SpeechLMConfig, model, f"{path}: model")
    if path.name.startswith("cpt_") and "qwen" in path.name:  # paper CPT: streamed shards
        data = config_from_dict(StreamDataConfig, data, f"{path}: data")
        assert data.kind == "shards" and data.shuffle_buffer > 0
    else:
        data = config_from_dict(DataConfig, data, f"{path}: data")
        assert data.kind == "tasks"
    if cfg.stage == "sft" and dual is None:
        assert len(data.tasks) == 1 and path.name.startswith(f"sft_{data.tasks[0]}_")
    # the global batch splits evenly over the GPU counts doc/training.md tabulates
    for gpus in _gpu_counts(path.name):
        assert accumulation_steps(cfg.batch.global_sequences, cfg.batch.micro_batch, gpus) >= 1


def _gpu_counts(name: str) -> tuple[int, ...]:
    if "debug" in name:
        return (1, 2)  # CPU processes
    if name.startswith("cpt_"):
        return (1, 2, 4, 8, 16, 32)  # 64 GPUs: batch.micro_batch=2 (or 5)
    return (1, 2, 4, 8, 16)  # SFT: 64 rows a step


def test_a_batch_that_does_not_split_is_refused():
    with pytest.raises(ValueError, match="not a multiple"):
        accumulation_steps(640, 4, 64)
    assert accumulation_steps(640, 2, 64) == 5


@pytest.mark.parametrize(
    "mode, system", [("speech", "Speech CPT"), ("speech_text", "Speech & Text CPT")]
)
def test_paper_scale_cpt_numbers(mode, system):
    cfg = load_config(LMTrainConfig, CONF / f"cpt_{mode}_qwen1.5_0.5b.yaml")
    assert cfg.system == system and cfg.data["cpt_mode"] == mode
    assert (cfg.batch.global_sequences, cfg.batch.max_len) == (640, 4096)
    assert cfg.stop.max_steps == 40_000
    assert (cfg.optim.lr, cfg.optim.min_lr, cfg.optim.grad_clip) == (1e-5, 1e-6, 1.0)
    assert cfg.model["init"] == "text_llm" and cfg.model["num_streams"] == 3
    assert cfg.model["codebook_size"] == 1024


MINI_CONF = Path(__file__).resolve().parents[2] / "egs2/mini_bilingual/codec_lm1/conf"
MINI_CONFIGS = sorted(p for d in ("mini", "long", "smoke") for p in (MINI_CONF / d).glob("*.yaml"))


@pytest.mark.parametrize("path", MINI_CONFIGS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_mini_recipe_config_loads_as_the_recipe_passes_it(path):
    """conf/{mini,long,smoke}: training configs with the codec the recipe passes (codec rows
    need it), decode configs as they are; every section typed at load (a typo fails here)."""
    from espnet_codec_lm.decode.config import LMDecodeConfig

    if path.name.startswith("decode_"):
        cfg = load_config(LMDecodeConfig, path)
        assert cfg.decoding.batch_size >= 1
        return
    cfg = load_config(LMTrainConfig, path, ["model.codec_dir=pretrained/codec"])
    assert cfg.stop.max_steps >= 1
    if path.name.startswith("sft_"):
        assert cfg.stage == "sft" and cfg.data["kind"] == "tasks"
        if path.stem != "sft_joint":  # the SFT groups: the tasks of the file name
            assert cfg.data["tasks"] == path.stem.split("_")[1:]


def test_a_typo_in_the_data_or_model_section_fails_at_load(tmp_path):
    from espnet_codec_lm.config import ConfigError

    with pytest.raises(ConfigError, match="data.*task_repeat"):
        load_config(LMTrainConfig, None, ["data.kind=tasks", "data.task_repeat={asr: 2}"])
    with pytest.raises(ConfigError, match="model.*new_rows"):
        load_config(LMTrainConfig, None, ["model.new_rows=codec"])
    with pytest.raises(ConfigError, match="codec_dir"):  # codec rows need the codec
        load_config(LMTrainConfig, None, ["model.init=text_llm", "model.new_rows_init=codec"])
