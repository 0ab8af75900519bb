"""Fixtures of the web demo's tests: the shipped mini pack loaded once, held-out test utterances
of its corpus as WAV files, and the demo server running on the pack.

The demo needs the ``[demo]`` extra (gradio, gradio_client, selenium) and, for the browser
test, Debian's chromium + chromium-driver; ``tools/install.sh`` installs all of them. Where one
is missing the tests skip with the reason, except under ``make test`` (which sets
``ESPNET_CODEC_LM_REQUIRE_DEMO=1``): there a missing piece is a failure, so CI cannot pass by
skipping them."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import pytest
import soundfile as sf
from demo_helpers import PACK, ROOT, require, require_modules

SERVE_TIMEOUT_S = 120


@pytest.fixture(scope="session")
def app(tmp_path_factory):
    """The demo's logic on the shipped pack (no gradio needed)."""
    from espnet_codec_lm.bin.demo import DemoApp

    return DemoApp(PACK, out_dir=tmp_path_factory.mktemp("demo_out"))


@pytest.fixture(scope="session")
def utterances(tmp_path_factory):
    """The first English and the first Mandarin test utterance of the large mini corpus (the
    pack's training corpus; test sentences are never in training), synthesised as the recipe's
    stage 1 does: ``{lang: (Utterance, wav path)}``."""
    from espnet_codec_lm.data.espeak import espeak_available, synthesize
    from espnet_codec_lm.data.mini_corpus import SAMPLE_RATE, SIZES, plan

    require(espeak_available(), "espeak-ng is not installed")
    utts, _ = plan(SIZES["large"])
    out = tmp_path_factory.mktemp("utts")
    picked = {}
    for lang in ("en", "zh"):
        u = next(u for u in utts if u.split == "test" and u.lang == lang)
        path = out / f"{u.utt_id}.wav"
        sf.write(path, synthesize(u.text, u.lang, u.voice, SAMPLE_RATE), SAMPLE_RATE)
        picked[lang] = (u, path)
    return picked


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    """``python -m espnet_codec_lm.bin.demo --model <pack>`` on a free port: its URL once the
    page answers (the process is stopped at the end of the session)."""
    require_modules("gradio", "gradio_client")
    port = _free_port()
    log_path = tmp_path_factory.mktemp("server") / "demo.log"
    cmd = [sys.executable, "-m", "espnet_codec_lm.bin.demo", "--model", str(PACK.relative_to(ROOT))]
    cmd += ["--port", str(port)]
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False"}
    url = f"http://127.0.0.1:{port}/"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
    try:
        start = time.monotonic()
        while True:
            if proc.poll() is not None:
                pytest.fail(
                    f"the demo exited with {proc.returncode}:\n{log_path.read_text()[-3000:]}"
                )
            try:
                with urllib.request.urlopen(url, timeout=5) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() - start > SERVE_TIMEOUT_S:
                pytest.fail(f"the demo did not serve {url} in {SERVE_TIMEOUT_S} s")
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="session")
def browser_binaries():
    """``(chromium, chromedriver)`` paths of the system packages."""
    require_modules("selenium")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    require(bool(chromium and driver), "chromium / chromedriver not installed (apt)")
    return chromium, driver
