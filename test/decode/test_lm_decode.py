"""The decode stage: outputs in the layout scoring reads, resume, settings checks, CLI errors."""

from __future__ import annotations

import subprocess
import sys

import kaldiio
import numpy as np
import pytest
import soundfile as sf
import yaml

from espnet_codec_lm.bin.lm_decode import main as lm_decode_main
from espnet_codec_lm.config import load_config
from espnet_codec_lm.data.kaldi_io import read_table
from espnet_codec_lm.decode.config import LMDecodeConfig
from espnet_codec_lm.decode.stage import run_lm_decode
from espnet_codec_lm.metrics.layout import read_decode_dir
from espnet_codec_lm.tasks.templates import get_template

FAST = ["decoding.text.max_len_cap=6", "decoding.speech.max_len_cap=8", "decoding.batch_size=4"]


def _cfg(*overrides):
    return load_config(LMDecodeConfig, None, [*FAST, *overrides])


def test_asr_outputs_are_what_scoring_reads(lm_exp, test_set, tmp_path):
    data, codes = test_set
    out = run_lm_decode(_cfg("task=asr", "decoding.text.beam_size=3"), data, codes, lm_exp)
    assert out == lm_exp / "decode_asr_test"
    dd = read_decode_dir(out)  # the scoring engineer's reader
    assert dd.task == "asr" and dd.test_set == "test" and dd.src_lang == "en"
    assert dd.num_samples == 1
    lines = (out / "text").read_text(encoding="utf-8").splitlines()
    ids = [ln.split(maxsplit=1)[0] for ln in lines]
    assert ids == sorted(read_table(data / "text"))
    meta = yaml.safe_load((out / "meta.yaml").read_text())
    assert meta["decoding"]["decoding"]["text"]["beam_size"] == 3
    assert meta["checkpoint"] == str((lm_exp / "model").resolve())
    assert meta["stats"]["num_utts"] == 6 and meta["stats"]["decoded_this_run"] == 6


def test_tts_samples_codes_and_wavs(lm_exp, test_set, tmp_path):
    data, codes = test_set
    cfg = _cfg("task=tts", "decoding.speech.num_samples=2", "speaker_prompt_s=0.2")
    out = run_lm_decode(cfg, data, codes, lm_exp, out_dir=tmp_path / "tts")
    dd = read_decode_dir(out)
    assert dd.num_samples == 2 and dd.target_is_speech
    # what scoring reads comes from the task's template, not from its name
    assert dd.meta["scoring"] == get_template("tts").scoring and dd.scoring.speaker_similarity
    guided = _cfg("task=tts", "decoding.speech.guidance=2", "speaker_prompt_s=0.2")
    g = read_decode_dir(run_lm_decode(guided, data, codes, lm_exp, out_dir=tmp_path / "g"))
    assert g.meta["decoding"]["decoding"]["speech"]["guidance"] == 2.0
    assert sorted(read_table(g.path / "sample_0" / "wav.scp")) == sorted(read_table(data / "text"))
    utts = sorted(read_table(data / "text"))
    for k in range(2):
        scp = read_table(out / f"sample_{k}" / "wav.scp")
        assert sorted(scp) == utts
        codes_k = dict(kaldiio.load_scp(str(out / f"sample_{k}" / "codes.scp")).items())
        for u in utts:
            c = codes_k[u]
            assert c.ndim == 2 and c.shape[1] == 3 and 1 <= len(c) <= 8
            assert c.min() >= 0 and c.max() < 16
            wav, sr = sf.read(scp[u])
            assert sr == 16000 and len(wav) == 320 * len(c)
    # speaker prompt: 10 frames of another utterance of the same speaker
    prompts = read_table(out / "speaker_prompt")
    spk = read_table(data / "utt2spk")
    for u, desc in prompts.items():
        other, start, n = desc.split()
        assert other != u and spk[other] == spk[u] and (start, n) == ("0", "10")


def test_share_of_samples_stopped_near_the_reference(tmp_path):
    """finalize: a sample counts when it ended on its own within 0.5-2x of its reference."""
    from espnet_codec_lm.decode.outputs import DecodeDir

    dd = DecodeDir(tmp_path / "d", True, 2, {"task": "tts"})
    lengths = {
        "a": ([4, 10], [True, True]),
        "b": ([10, 20], [False, True]),
        "c": ([21, 5], [True, True]),
    }
    for u, (ns, fin) in lengths.items():
        dd.write_speech(u, [np.zeros((n, 3), np.int64) for n in ns], fin, None, 16000)
    meta = dd.finalize(sorted(lengths), {"write_wav": False}, ref_frames=dict.fromkeys("abc", 10))
    # a: 4 (0.4x) no, 10 yes; b: unfinished no, 20 (2x) yes; c: 21 no, 5 (0.5x) yes
    assert meta["stats"]["share_stopped_within_0.5_2x"] == pytest.approx(3 / 6, abs=1e-4)
    assert meta["stats"]["mean_reference_frames"] == 10


def test_resume_decodes_only_what_is_missing(lm_exp, test_set, tmp_path):
    data, codes = test_set
    out = tmp_path / "asr"
    cfg = _cfg("task=asr", "decoding.text.beam_size=2")
    run_lm_decode(cfg, data, codes, lm_exp, out_dir=out)
    first = (out / "text").read_text()
    victim = sorted(read_table(data / "text"))[2]
    (out / ".parts" / f"{victim}.json").unlink()
    (out / "text").unlink()
    (out / "meta.yaml").unlink()
    run_lm_decode(cfg, data, codes, lm_exp, out_dir=out)
    meta = yaml.safe_load((out / "meta.yaml").read_text())
    assert meta["stats"]["decoded_this_run"] == 1
    assert (out / "text").read_text() == first  # same hypothesis again, same file
    # another batch size is the same decode: nothing to do
    run_lm_decode(
        _cfg("task=asr", "decoding.text.beam_size=2", "decoding.batch_size=1"),
        data,
        codes,
        lm_exp,
        out_dir=out,
    )
    assert yaml.safe_load((out / "meta.yaml").read_text())["stats"]["decoded_this_run"] == 0
    # other settings are refused unless --overwrite
    with pytest.raises(ValueError, match="other settings .*beam|other settings"):
        run_lm_decode(_cfg("task=asr"), data, codes, lm_exp, out_dir=out)
    run_lm_decode(_cfg("task=asr"), data, codes, lm_exp, out_dir=out, overwrite=True)
    assert yaml.safe_load((out / "meta.yaml").read_text())["stats"]["decoded_this_run"] == 6


def test_s2tt_target_language_and_skips(lm_exp, test_set, tmp_path):
    data, codes = test_set
    out = run_lm_decode(_cfg("task=s2tt"), data, codes, lm_exp, out_dir=tmp_path / "s2tt")
    meta = yaml.safe_load((out / "meta.yaml").read_text())
    assert (meta["src_lang"], meta["tgt_lang"]) == ("en", "zh")  # from the data dir's text.zh
    with pytest.raises(ValueError, match="no utterance left .*already_in_tgt_lang': 6"):
        run_lm_decode(_cfg("task=s2tt", "tgt_lang=en"), data, codes, lm_exp, out_dir=tmp_path / "x")


def test_cli_errors_are_one_line(lm_exp, test_set, tmp_path, capsys):
    data, codes = test_set
    rc = lm_decode_main(
        ["--data_dir", str(data), "--codes", str(codes), "--lm", str(tmp_path / "nope")]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 1 and len(err) == 1 and "no such LM checkpoint" in err[0]
    rc = lm_decode_main(
        ["--data_dir", str(data), "--codes", str(tmp_path / "x.scp"), "--lm", str(lm_exp)]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 1 and "codes file not found" in err[-1]
    rc = lm_decode_main(
        ["--data_dir", str(data), "--codes", str(codes), "--lm", str(lm_exp), "decoding.x=1"]
    )
    assert rc == 1 and "unknown key 'decoding.x'" in capsys.readouterr().err


def test_cli_runs_as_a_module(lm_exp, test_set, tmp_path):
    data, codes = test_set
    out = tmp_path / "cli"
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "espnet_codec_lm.bin.lm_decode",
            "--data_dir",
            str(data),
            "--codes",
            str(codes),
            "--lm",
            str(lm_exp),
            "--out_dir",
            str(out),
            "task=asr",
            "decoding.text.method=greedy",
            *FAST,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stderr[-1500:]
    assert len((out / "text").read_text().splitlines()) == 6


def test_every_decode_config_loads():
    from pathlib import Path

    conf = Path(__file__).resolve().parents[2] / "egs2/TEMPLATE/codec_lm1/conf/decode"
    files = sorted(conf.glob("*.yaml"))
    assert {f.stem for f in files} >= {"asr", "tts", "s2tt", "s2st"}
    for f in files:
        cfg = load_config(LMDecodeConfig, f)
        assert cfg.task == f.stem.split("_")[0]
    tts = load_config(LMDecodeConfig, conf / "tts.yaml")
    s = tts.decoding.speech
    assert (s.top_k, s.temperature, s.num_samples) == (30, 1.5, 5)
    assert load_config(LMDecodeConfig, conf / "asr.yaml").decoding.text.beam_size == 8
    assert np.isclose(tts.speaker_prompt_s, 3.0)
