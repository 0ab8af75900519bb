"""The stage template end to end on the tiny mini corpus with tiny models (stages 1-10 in four
``--stage/--stop_stage`` slices), then a full rerun that skips every finished step."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from recipe_helpers import make_recipe_copy, run_sh

from espnet_codec_lm.data.espeak import espeak_available
from espnet_codec_lm.data.kaldi_io import read_table

TINY_LM = {
    "stage": "cpt",
    "seed": 0,
    "model": {
        "init": "none",
        "codebook_size": 1024,  # the debug codec's
        "arch": {
            "hidden_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "num_key_value_heads": 2,
            "intermediate_size": 128,
        },
    },  # fmt: skip
    "data": {"kind": "tasks", "examples_per_epoch": 8, "valid_batches": 1},
    "optim": {"lr": 1.0e-3, "min_lr": 1.0e-4, "warmup_steps": 1},
    "batch": {"global_sequences": 2, "micro_batch": 2, "max_len": 512},
    "stop": {"max_steps": 2},
    "checkpoint": {"every_steps": 2, "keep_last": 1},
    "eval": {"every_steps": 2},
    "log": {"every_steps": 1, "tensorboard": False},
}


def _mtimes(*roots: Path) -> dict[str, int]:
    return {str(p): p.stat().st_mtime_ns for r in roots for p in r.rglob("*") if p.is_file()}


@pytest.mark.slow
def test_all_stages_then_rerun_skips(tmp_path):
    if not espeak_available():
        pytest.skip("espeak-ng is not installed")
    d = make_recipe_copy("mini_bilingual", tmp_path / "mini" / "codec_lm1")
    (d / "conf" / "test_lm").mkdir()
    (d / "conf" / "test_lm" / "cpt.yaml").write_text(yaml.safe_dump(TINY_LM))
    (d / "conf" / "test_lm" / "sft_asr.yaml").write_text(
        yaml.safe_dump({**TINY_LM, "stage": "sft"})
    )
    args = [
        "./codec_lm.sh", "--nj", "1", "--local_data_opts", "--size tiny",
        "--codec_args", "max_steps=1 log_every=1 valid_every=100000",
        "--text_tokenizer", "bpe", "--bpe_vocab_size", "1000",
        "--text_pools", "data/text_pool/general.en data/text_pool/general.zh",
        "--lm_config", "conf/test_lm/cpt.yaml", "--sft_config", "conf/test_lm/sft_{task}.yaml",
        "--init", "none", "--cpt_mode", "speech_text", "--tasks", "asr",
        "--decode_args", "max_utts=2 decoding.text.beam_size=2 decoding.text.max_len_cap=16",
    ]  # fmt: skip
    run = lambda a, b: run_sh([*args, "--stage", str(a), "--stop_stage", str(b)], d, timeout=600)  # noqa: E731

    res = run(1, 3)
    assert res.returncode == 0, res.stdout[-4000:]
    assert (d / "exp" / "codec_debug" / "codec" / "model.safetensors").is_file()
    assert not (d / "dump" / "codes").exists()

    res = run(4, 5)
    assert res.returncode == 0, res.stdout[-4000:]
    for s in ("train", "dev", "test"):
        n_utts = len(read_table(d / "dump" / "data" / s / "utt2spk"))
        assert len(read_table(d / "dump" / "codes" / s / "codes.scp")) == n_utts
        # English utterances carry S2ST target speech: their codes go to codes_tgt
        n_tgt = len(read_table(d / "dump" / "data" / s / "wav_tgt.scp"))
        assert len(read_table(d / "dump" / "codes" / s / "codes_tgt.scp")) == n_tgt > 0
    assert (d / "exp" / "text_tokenizer_bpe1000" / "text_tokenizer.json").is_file()

    res = run(6, 7)
    assert res.returncode == 0, res.stdout[-4000:]
    cpt, sft = d / "exp" / "lm_cpt_speech_text_cpt", d / "exp" / "lm_sft_asr_speech_text_cpt"
    assert (cpt / "model").is_dir() and (sft / "model").is_dir()
    assert yaml.safe_load((sft / "system.yaml").read_text())["system"] == "Speech & Text CPT"
    assert "model.init=exp/lm_cpt_speech_text_cpt/model" in (sft / ".done").read_text()

    res = run(8, 10)
    assert res.returncode == 0, res.stdout[-4000:]
    dec = sft / "decode_asr_test"
    assert len((dec / "text").read_text().splitlines()) == 2
    scores = yaml.safe_load((dec / "scores.yaml").read_text())
    assert scores and any(k.lower().startswith(("wer", "cer")) for k in scores)
    assert "Speech & Text CPT" in (d / "RESULTS.md").read_text()

    # everything is done: a rerun of all stages runs nothing but the report
    before = _mtimes(d / "data", d / "dump", cpt, sft)
    res = run(1, 10)
    assert res.returncode == 0, res.stdout[-4000:]
    assert ")   $ " not in res.stdout  # no step command was run
    assert res.stdout.count("done already") >= 14
    assert _mtimes(d / "data", d / "dump", cpt, sft) == before
