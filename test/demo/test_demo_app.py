"""The web demo's logic (``bin/demo.DemoApp``) called directly on the shipped mini pack: each tab's
function returns what the page shows, bad input gives one line, requests run one at a time,
and the core imports no gradio."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import soundfile as sf
from demo_helpers import require_modules

from espnet_codec_lm.bin.demo import MAX_AUDIO_S, MAX_TEXT_CHARS, DemoError

LATIN = re.compile(r"^[A-Za-z0-9 ,.'?!-]+$")
CJK = re.compile(r"[\u4e00-\u9fff]")


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z]+", text.lower()))


def test_asr_of_a_test_utterance_returns_english_text(app, utterances):
    u, wav = utterances["en"]
    r = app.asr(str(wav), "en")
    assert LATIN.match(r.text), r.text
    # the toy model gets about half the words (WER 56%): it must at least share some
    assert len(_words(r.text) & _words(u.text)) >= 2, (u.text, r.text)
    assert r.input_s == pytest.approx(sf.info(str(wav)).duration, abs=0.01)
    assert r.info.startswith("ASR in ") and "beam 8" in r.info  # the pack's decode/asr.yaml
    assert r.seconds < 10


def test_asr_takes_gradio_numpy_audio_at_another_rate(app, utterances):
    """The microphone gives (rate, int16 samples), often at 48 kHz stereo."""
    import soxr

    u, wav = utterances["en"]
    x, sr = sf.read(str(wav), dtype="float32")
    x48 = soxr.resample(x, sr, 48000)
    stereo = (np.stack([x48, x48], axis=1) * 32767).astype(np.int16)
    text = app.asr((48000, stereo), "en").text
    assert LATIN.match(text) and len(_words(text) & _words(u.text)) >= 2, (u.text, text)


def test_tts_speaks_for_a_plausible_duration(app, utterances):
    """Speech in the default voice and in an uploaded one, near the length of the sentence as
    espeak-ng says it (sampled: the ratio varies, 0.5-1.2 on these inputs), with a PNG
    spectrogram and the settings of the pack's decode/tts.yaml."""
    ratios, silent = [], 0
    for lang in ("en", "zh"):
        u, wav = utterances[lang]
        ref_s = sf.info(str(wav)).duration
        for prompt in (None, str(wav)):
            r = app.tts(u.text, "auto", prompt)
            assert r.audio.dtype == np.float32 and np.isfinite(r.audio).all()
            assert r.spectrogram.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
            assert "top-k 30" in r.info and f"language {lang}" in r.info
            if np.sqrt(np.mean(r.audio**2)) > 1e-3:
                ratios.append(r.audio_s / ref_s)
            else:
                silent += 1
    # the shipped generation model (TTS + S2ST run of the 2026-12-05 long run) stops too early on
    # some inputs: 64% of its test samples stop within 0.5-2x (RESULTS_long.md); here the
    # Mandarin sentence in the uploaded voice ends after 0.16 s of silence. Three of four speak.
    assert silent <= 1, silent
    assert 0.4 <= float(np.median(ratios)) <= 2.5, ratios


def test_s2tt_and_s2st(app, utterances):
    _, wav = utterances["en"]
    r = app.s2tt(str(wav), "en", "zh")
    assert CJK.search(r.text) and not re.search(r"[A-Za-z]", r.text), r.text
    s = app.s2st(str(wav), "en", "zh")
    assert 0.3 < s.audio_s < 30 and s.spectrogram.is_file()
    assert "en -> zh" in s.info and "real-time factor" in s.info


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("bad")
    (d / "notes.txt").write_text("not audio\n")
    sf.write(d / "long.wav", np.zeros(int((MAX_AUDIO_S + 1) * 8000), np.float32), 8000)
    sf.write(d / "short.wav", np.zeros(4000, np.float32) + 0.01, 16000)
    return d


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda a, d: a.asr(None, "en"), r"^speech: none given \(upload a file or record"),
        (
            lambda a, d: a.asr(str(d / "notes.txt"), "en"),
            r"notes\.txt is not a readable audio file \(WAV",
        ),
        (lambda a, d: a.asr(str(d / "gone.wav"), "en"), r"gone\.wav: no such file"),
        (
            lambda a, d: a.asr(str(d / "long.wav"), "en"),
            r"31\.0 s long; the demo takes at most 30 s",
        ),
        (
            lambda a, d: a.asr(str(d / "short.wav"), "fr"),
            r"language 'fr' is not supported \(one of en, zh\)",
        ),
        (
            lambda a, d: a.s2tt(str(d / "short.wav"), "en", "de"),
            r"target language 'de' is not supported",
        ),
        (lambda a, d: a.tts("   ", "en"), r"^text: empty"),
        (lambda a, d: a.tts("a" * (MAX_TEXT_CHARS + 1), "en"), rf"at most {MAX_TEXT_CHARS}"),
        (
            lambda a, d: a.tts("hello", "en", str(d / "short.wav")),
            r"speaker prompt: 0\.25 s of audio, need at least 1 s",
        ),
    ],
)
def test_bad_input_gives_one_line(app, bad_files, call, match):
    with pytest.raises(ValueError, match=match) as e:
        call(app, bad_files)
    assert "\n" not in str(e.value)


def test_requests_run_one_at_a_time(app, utterances, monkeypatch):
    """Two threads asking at once: the second waits for the first (one model, one lock)."""
    _, wav = utterances["en"]
    running, peak = [0], [0]
    asr = app.systems["asr"]
    real = asr.asr

    def slow_asr(*args, **kwargs):
        running[0] += 1
        peak[0] = max(peak[0], running[0])
        time.sleep(0.3)
        running[0] -= 1
        return real(*args, **kwargs)

    monkeypatch.setattr(asr, "asr", slow_asr)
    threads = [threading.Thread(target=app.asr, args=(str(wav), "en")) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert peak[0] == 1


def test_gradio_handlers_turn_errors_into_one_line_messages(app, monkeypatch):
    require_modules("gradio")
    import gradio as gr

    from espnet_codec_lm.bin.demo import handlers

    fns = handlers(app)
    assert sorted(fns) == ["asr", "s2st", "s2tt", "tts"]
    with pytest.raises(gr.Error) as e:
        fns["tts"]("", "auto", None)
    assert e.value.message == "text: empty (type a sentence to synthesise)"

    def broken(*args, **kwargs):
        raise RuntimeError("boom\nsecond line")

    monkeypatch.setattr(app, "asr", broken)
    fns = handlers(app)
    with pytest.raises(gr.Error) as e:
        fns["asr"]("x.wav", "en")
    assert e.value.message == "internal error (RuntimeError: boom); see the server log"


def test_the_page_queues_every_request_in_one_slot(app):
    """Two users never run on the model at once: the four events share one concurrency group
    of size 1 in the queue."""
    require_modules("gradio")
    from espnet_codec_lm.bin.demo import build_ui

    fns = [f for f in build_ui(app).fns.values() if f.api_name]
    assert sorted(f.api_name for f in fns) == ["asr", "s2st", "s2tt", "tts"]
    assert {(f.queue, f.concurrency_limit, f.concurrency_id) for f in fns} == {(True, 1, "model")}


def test_the_demo_module_imports_no_gradio():
    """gradio is optional: importing the module (and the core) must not need it."""
    code = "import sys, espnet_codec_lm.bin.demo; assert 'gradio' not in sys.modules"
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr[-2000:]


def test_missing_model_is_one_line(tmp_path):
    from espnet_codec_lm.bin.demo import DemoApp

    with pytest.raises(DemoError, match=r"no such pack or experiment directory"):
        DemoApp(tmp_path / "nothing")
