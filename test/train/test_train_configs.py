"""Every LM training config under egs2/ loads, and the paper-scale ones carry the paper's numbers."""

from __future__ import annotations

from pathlib import Path

import pytest

from espnet_codec_lm.config import config_from_dict, load_config
from espnet_codec_lm.lm.config import SpeechLMConfig
from espnet_codec_lm.tasks.dataset import DataConfig
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
    config_from_dict(SpeechLMConfig, cfg.model, f"{path}: model")
    data = config_from_dict(DataConfig, cfg.data, f"{path}: data")
    assert data.kind == "tasks"
    if cfg.stage == "sft":
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
