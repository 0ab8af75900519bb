"""Engine options in one process: FSDP2 with a bf16 MixedPrecisionPolicy (the GPU path, run on
CPU here) and activation checkpointing."""

from __future__ import annotations

import pytest
from train_helpers import tiny_config, train_in_process

from espnet_codec_lm.train.logger import read_log


@pytest.fixture(scope="module")
def reference(tmp_path_factory, tiny_base):
    d = tmp_path_factory.mktemp("fp32")
    cfg = tiny_config(
        d,
        tiny_base,
        stop={"max_steps": 3},
        checkpoint={"every_steps": 0},
        eval={"every_steps": 0},
        log={"tensorboard": False},
    )
    train_in_process(cfg, d / "exp")
    return cfg, [r["loss"] for r in read_log(d / "exp" / "train_log.jsonl")]


def test_fsdp2_bf16_mixed_precision_tracks_fp32(tmp_path, reference):
    cfg, fp32 = reference
    train_in_process(cfg, tmp_path / "exp", "dist.fsdp=true", "dist.precision=bf16")
    bf16 = [r["loss"] for r in read_log(tmp_path / "exp" / "train_log.jsonl")]
    assert bf16 != fp32  # bf16 compute really happened
    assert bf16 == pytest.approx(fp32, rel=2e-3)
    import json

    # master weights and optimiser moments stay fp32 in the checkpoint
    from safetensors import safe_open

    ck = tmp_path / "exp" / "checkpoints" / "step_00000003"
    with safe_open(str(ck / "optimizer.safetensors"), "pt") as f:
        assert {str(f.get_slice(k).get_dtype()) for k in f.keys()} == {"F32"}
    assert json.loads((ck / "trainer.json").read_text())["world_size"] == 1


def test_activation_checkpointing_changes_nothing_but_memory(tmp_path, reference):
    cfg, fp32 = reference
    train_in_process(cfg, tmp_path / "exp", "dist.activation_checkpointing=true")
    assert [r["loss"] for r in read_log(tmp_path / "exp" / "train_log.jsonl")] == fp32


def test_activation_checkpointing_is_switched_on(tiny_base):
    from espnet_codec_lm.lm.build import build_speech_lm
    from espnet_codec_lm.lm.config import SpeechLMConfig
    from espnet_codec_lm.train.distributed import enable_activation_checkpointing

    model, _ = build_speech_lm(
        SpeechLMConfig(init="text_llm", base_llm=str(tiny_base), codebook_size=16)
    )
    assert not model.lm.model.gradient_checkpointing
    enable_activation_checkpointing(model)
    assert model.lm.model.gradient_checkpointing
