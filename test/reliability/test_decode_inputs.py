"""Decoding and inference: bad inputs to ``infer`` (prompt too short for TTS, a rate below
8 kHz, empty text, missing or mismatched checkpoints, unreadable audio) and to ``lm_decode``
(out-of-range codes); a decode killed mid-way and rerun gives exactly the uninterrupted
outputs; the same seed twice gives the same sampled speech."""

from __future__ import annotations

import signal

import kaldiio
import numpy as np
import pytest
from rel_fault import run_forked
from rel_helpers import (
    assert_one_line_error,
    assert_unchanged,
    call_main,
    make_tiny_codec,
    tree_hashes,
)

from espnet_codec_lm.testing.audio import speech_like, write_corrupt_wav, write_wav

FAST = ["decoding.text.max_len_cap=6", "decoding.speech.max_len_cap=8", "decoding.batch_size=2"]


@pytest.fixture
def out(tmp_path):
    """An output written by an earlier inference call: must survive a failing one."""
    p = tmp_path / "out.wav"
    write_wav(p, speech_like(0.5))
    return p


def _infer(lm_exp, *args):
    return call_main("infer", "--lm", lm_exp, *args, *FAST)


def test_tts_prompt_too_short(tmp_path, lm_exp, out):
    prompt = write_wav(tmp_path / "prompt.wav", speech_like(0.3))
    before = tree_hashes(tmp_path)
    res = _infer(lm_exp, "--task", "tts", "--text", "the cat sat.", "--prompt_wav", prompt,
                 "--out", out)  # fmt: skip
    assert_one_line_error(res, "speaker prompt", "0.3")
    assert_unchanged(before, tree_hashes(tmp_path))


def test_sample_rate_below_8k(tmp_path, lm_exp, out):
    wav = write_wav(tmp_path / "in.wav", speech_like(1.0, 4000), 4000)
    before = tree_hashes(tmp_path)
    res = _infer(lm_exp, "--task", "asr", "--wav", wav, "--out", tmp_path / "hyp.txt")
    assert_one_line_error(res, "sample rate", "4000")
    assert_unchanged(before, tree_hashes(tmp_path))
    assert not (tmp_path / "hyp.txt").exists()


def test_other_rate_and_stereo_are_resampled(tmp_path, lm_exp):
    """Policy (inference.py): audio at another rate is resampled, channels are averaged."""
    left = speech_like(0.6, 22050)
    wav = write_wav(tmp_path / "in.wav", np.stack([left, left], axis=1), 22050)
    res = _infer(lm_exp, "--task", "asr", "--wav", wav, "--out", tmp_path / "hyp.txt")
    assert res.rc == 0, res.text
    assert (tmp_path / "hyp.txt").is_file()


def test_empty_text(tmp_path, lm_exp, out):
    prompt = write_wav(tmp_path / "prompt.wav", speech_like(1.5))
    before = tree_hashes(tmp_path)
    res = _infer(lm_exp, "--task", "tts", "--text", "   ", "--prompt_wav", prompt, "--out", out)
    assert_one_line_error(res, "--text")
    assert_unchanged(before, tree_hashes(tmp_path))


def test_unreadable_input_audio(tmp_path, lm_exp):
    wav = write_corrupt_wav(tmp_path / "in.wav")
    res = _infer(lm_exp, "--task", "asr", "--wav", wav)
    assert_one_line_error(res, str(wav))


def test_missing_checkpoint(tmp_path, out):
    prompt = write_wav(tmp_path / "prompt.wav", speech_like(1.5))
    missing = tmp_path / "exp" / "lm_sft_tts"
    before = tree_hashes(tmp_path)
    res = call_main("infer", "--lm", missing, "--task", "tts", "--text", "hi.", "--prompt_wav",
                    prompt, "--out", out)  # fmt: skip
    assert_one_line_error(res, str(missing))
    assert_unchanged(before, tree_hashes(tmp_path))


def test_codec_does_not_match_lm_vocabulary(tmp_path, lm_exp, out):
    """A 32-code codec given to an LM trained on 16-code streams."""
    codec = make_tiny_codec(tmp_path / "codec32", codebook_size=32)
    prompt = write_wav(tmp_path / "prompt.wav", speech_like(1.5))
    before = tree_hashes(tmp_path)
    res = _infer(lm_exp, "--codec", codec, "--task", "tts", "--text", "hi.", "--prompt_wav",
                 prompt, "--out", out)  # fmt: skip
    assert_one_line_error(res, str(codec), "32")
    assert_unchanged(before, tree_hashes(tmp_path))


def _codes(scp):
    return {k: np.asarray(v) for k, v in kaldiio.load_scp(str(scp)).items()}


def _decode(lm_exp, data, codes, out_dir, *overrides):
    return call_main("lm_decode", "--data_dir", data, "--codes", codes, "--lm", lm_exp,
                     "--out_dir", out_dir, *FAST, *overrides)  # fmt: skip


def test_lm_decode_out_of_range_codes(tmp_path, lm_exp, test_set):
    data, codes = test_set
    done = tmp_path / "decode_asr_v1"
    assert _decode(lm_exp, data, codes, done, "task=asr").rc == 0
    arrays = _codes(codes)
    utt = sorted(arrays)[3]
    arrays[utt] = arrays[utt].copy()
    arrays[utt][0, 1] = 1000
    bad = tmp_path / "bad_codes"
    bad.mkdir()
    spec = f"ark,scp:{bad}/codes.ark,{bad}/codes.scp"
    with kaldiio.WriteHelper(spec, write_function="numpy") as w:
        for k in sorted(arrays):
            w(k, arrays[k])
    before = tree_hashes(tmp_path)
    res = _decode(lm_exp, data, bad / "codes.scp", done, "task=asr")
    assert_one_line_error(res, str(bad / "codes.scp"), utt, "outside")
    assert_unchanged(before, tree_hashes(tmp_path))


def _speech_outputs(d):
    """Everything a TTS decode dir holds for scoring, minus meta.yaml (it records timings)."""
    out = {}
    for k in (0, 1):
        s = d / f"sample_{k}"
        out[f"codes{k}"] = {u: a.tolist() for u, a in _codes(s / "codes.scp").items()}
        out[f"wav{k}"] = {p.name: p.read_bytes() for p in sorted((s / "wav").iterdir())}
        out[f"scp{k}"] = sorted(ln.split()[0] for ln in (s / "wav.scp").read_text().splitlines())
    return out


TTS = ["task=tts", "decoding.speech.num_samples=2", "speaker_prompt_s=0.2", "decoding.seed=7"]


@pytest.mark.slow
def test_decode_killed_midway_then_rerun_equals_uninterrupted(tmp_path, lm_exp, test_set):
    data, codes = test_set
    log = tmp_path / "log"
    args = ["--data_dir", str(data), "--codes", str(codes), "--lm", str(lm_exp), *FAST, *TTS]
    ref, killed = tmp_path / "ref", tmp_path / "killed"
    assert run_forked("lm_decode", [*args, "--out_dir", str(ref)], log) == 0

    # killed while the 4th utterance's outputs are written: 3 are on disk
    status = run_forked("lm_decode", [*args, "--out_dir", str(killed)], log, "decode_write", 4)
    assert status == -signal.SIGKILL
    assert not (killed / "meta.yaml").exists()
    assert run_forked("lm_decode", [*args, "--out_dir", str(killed)], log) == 0
    assert "6 utterances, 3 to decode" in log.read_text()  # only the rest was decoded
    assert _speech_outputs(killed) == _speech_outputs(ref)


def test_same_seed_twice_same_sampled_speech(tmp_path, lm_exp, test_set):
    data, codes = test_set
    a, b = tmp_path / "a", tmp_path / "b"
    assert _decode(lm_exp, data, codes, a, *TTS).rc == 0
    assert _decode(lm_exp, data, codes, b, *TTS).rc == 0
    oa, ob = _speech_outputs(a), _speech_outputs(b)
    assert oa == ob
    assert oa["codes0"] != oa["codes1"]  # the two samples do differ: sampling is on
