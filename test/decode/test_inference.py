"""The Python API and ``bin/infer``: all four tasks, resampling, and the one-line errors."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from espnet_codec_lm.bin.infer import main as infer_main
from espnet_codec_lm.config import load_config
from espnet_codec_lm.decode.config import LMDecodeConfig
from espnet_codec_lm.inference import InferenceError, SpeechLMInference, task_config
from espnet_codec_lm.testing.audio import speech_like, write_wav

FAST = [
    "decoding.text.max_len_cap=6",
    "decoding.speech.max_len_cap=10",
    "decoding.text.beam_size=2",
]


@pytest.fixture(scope="module")
def api(lm_exp):
    cfg = load_config(LMDecodeConfig, None, [*FAST, "decoding.speech.num_samples=1"])
    return SpeechLMInference(lm_exp, config=cfg)


@pytest.fixture(scope="module")
def wav():
    return speech_like(0.6, rng=np.random.default_rng(1))


def test_four_tasks(api, wav):
    text = api.asr(wav, 16000)
    assert isinstance(text, str)
    assert isinstance(api.s2tt(wav, 16000, target_lang="zh"), str)
    out = api.tts("the cat sat on the mat.", speech_like(1.5), 16000)
    assert out.dtype == np.float32 and out.ndim == 1
    assert 0 < len(out) <= 10 * 320 and len(out) % 320 == 0
    # same input, same seed: the same audio
    np.testing.assert_array_equal(out, api.tts("the cat sat on the mat.", speech_like(1.5), 16000))
    s2st = api.s2st(wav, 16000, target_lang="zh")
    assert len(s2st) % 320 == 0 and len(s2st) > 0


def test_with_config_shares_the_loaded_model(api, wav):
    """One loaded model serves another task's settings (the demo's four tabs)."""
    greedy = api.with_config(
        load_config(LMDecodeConfig, None, [*FAST, "decoding.text.beam_size=1"])
    )
    assert greedy.model is api.model and greedy.codec is api.codec
    assert greedy.decoder.cfg.text.beam_size == 1 and api.decoder.cfg.text.beam_size == 2
    assert isinstance(greedy.asr(wav, 16000), str)


def test_task_config_takes_the_packs_config_then_overrides(tmp_path):
    (tmp_path / "decode").mkdir()
    (tmp_path / "decode" / "tts.yaml").write_text("decoding:\n  speech:\n    top_k: 7\n")
    cfg = task_config(tmp_path, "tts")
    assert (cfg.task, cfg.decoding.speech.top_k, cfg.decoding.speech.num_samples) == ("tts", 7, 1)
    assert task_config(tmp_path, "asr").decoding.text.beam_size == 8  # no asr.yaml: defaults
    more = task_config(tmp_path, "tts", overrides=["decoding.speech.num_samples=3"])
    assert more.decoding.speech.num_samples == 3


def test_transcribe_is_the_scoring_protocol(lm_exp, api, wav):
    from espnet_codec_lm.inference import load_recognizer
    from espnet_codec_lm.metrics.asr import SpeechRecognizer

    assert isinstance(api, SpeechRecognizer)
    batch = api.transcribe([wav, wav[:4000], wav], 16000, "en")
    assert len(batch) == 3 and batch[0] == batch[2] == api.asr(wav, 16000, "en")
    rec = load_recognizer(lm_exp, "cpu")
    assert isinstance(rec, SpeechRecognizer)
    assert rec.config.decoding.text.beam_size == 8  # the default decode config


def test_other_rates_are_resampled(api, wav):
    import soxr

    at_44k = soxr.resample(wav, 16000, 44100)
    codes_44k = api.encode(at_44k, 44100)
    codes_16k = api.encode(wav, 16000)
    assert codes_44k.shape == codes_16k.shape
    # the same as resampling by hand first (soxr HQ), which the codec then accepts
    by_hand = soxr.resample(at_44k, 44100, 16000, quality="HQ")
    np.testing.assert_array_equal(codes_44k, api.encode(by_hand, 16000))
    stereo = np.stack([wav, wav], axis=1)
    np.testing.assert_array_equal(api.encode(stereo, 16000), codes_16k)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda m, w: m.asr(w, 4000), "sample rate 4000 Hz"),
        (lambda m, w: m.asr(np.zeros(0, np.float32), 16000), "non-empty"),
        (lambda m, w: m.asr(np.full(800, np.nan, np.float32), 16000), "NaN"),
        (lambda m, w: m.tts("  ", speech_like(2.0), 16000), "empty text"),
        (lambda m, w: m.tts("hello", speech_like(0.5), 16000), "0.50 s of audio, need at least 1"),
        (lambda m, w: m.s2tt(w, 16000, target_lang="fr"), "language 'fr' not supported"),
    ],
)
def test_bad_inputs(api, wav, call, match):
    with pytest.raises(InferenceError, match=match):
        call(api, wav)


def test_missing_checkpoint_and_codec(tmp_path, lm_exp):
    with pytest.raises(ValueError, match="no such LM checkpoint"):
        SpeechLMInference(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no LM checkpoint"):
        SpeechLMInference(tmp_path / "empty")
    with pytest.raises(ValueError, match="not a codec directory"):
        SpeechLMInference(lm_exp, codec=tmp_path / "empty")


def test_cli_tts_and_asr(lm_exp, tmp_path, capsys):
    prompt = write_wav(tmp_path / "prompt.wav", speech_like(2.0), 22050)
    out = tmp_path / "y.wav"
    rc = infer_main(
        [
            "--lm",
            str(lm_exp),
            "--task",
            "tts",
            "--text",
            "the cat sat.",
            "--prompt_wav",
            str(prompt),
            "--out",
            str(out),
            *FAST,
        ]
    )
    assert rc == 0, capsys.readouterr().err
    y, sr = sf.read(out)
    assert sr == 16000 and len(y) % 320 == 0
    # classifier-free guidance: the API builds the text-free twin of the prefix itself
    guided = tmp_path / "g.wav"
    args = ["--lm", str(lm_exp), "--task", "tts", "--text", "the cat sat.", "--prompt_wav"]
    rc = infer_main([*args, str(prompt), "--out", str(guided), *FAST, "decoding.speech.guidance=3"])
    assert rc == 0, capsys.readouterr().err
    assert sf.read(guided)[1] == 16000
    rc = infer_main(["--lm", str(lm_exp), "--task", "asr", "--wav", str(prompt), *FAST])
    assert rc == 0
    assert capsys.readouterr().out.strip().count("\n") == 0  # one line of text


@pytest.mark.parametrize(
    "args, match",
    [
        (
            ["--task", "tts", "--text", "", "--prompt_wav", "P", "--out", "o.wav"],
            "non-empty --text",
        ),
        (
            ["--task", "tts", "--text", "hi", "--prompt_wav", "missing.wav", "--out", "o.wav"],
            "missing.wav: no such audio file",
        ),
        (["--task", "s2tt", "--wav", "P"], "needs --target_lang"),
        (["--task", "s2st", "--wav", "P"], "needs --out"),
        (
            ["--task", "tts", "--text", "hi", "--prompt_wav", "SHORT", "--out", "o.wav"],
            "speaker prompt: 0.30 s",
        ),
    ],
)
def test_cli_errors_are_one_line(lm_exp, tmp_path, capsys, args, match):
    prompt = write_wav(tmp_path / "p.wav", speech_like(1.2), 16000)
    short = write_wav(tmp_path / "s.wav", speech_like(0.3), 16000)
    args = [str(prompt) if a == "P" else str(short) if a == "SHORT" else a for a in args]
    args = [str(tmp_path / a) if a.endswith(".wav") and "/" not in a else a for a in args]
    rc = infer_main(["--lm", str(lm_exp), *args])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 1 and len(err) == 1 and err[0].startswith("infer: error:")
    assert match in err[0]


def test_cli_missing_checkpoint(tmp_path, capsys):
    rc = infer_main(
        [
            "--lm",
            str(tmp_path / "none"),
            "--task",
            "asr",
            "--wav",
            str(write_wav(tmp_path / "a.wav", speech_like(0.5))),
        ]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 1 and len(err) == 1 and "no such LM checkpoint" in err[0]
