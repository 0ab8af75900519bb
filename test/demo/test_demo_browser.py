"""The demo page in a real headless browser (Debian's chromium, driven by Selenium through the
system chromedriver): load the page, transcribe an uploaded WAV, synthesise a sentence, and see
the results on the page with no error shown; then a bad input shows its one-line message.

Screenshots of the two tabs are saved in the test's temporary directory, and also to
``$DEMO_SCREENSHOT_DIR`` when set (doc/demo_ui.png was made that way)."""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path

import pytest

WAIT_S = 60


@pytest.fixture(scope="module")
def browser(browser_binaries):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium, driver = browser_binaries
    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        opts.add_argument(arg)
    opts.add_argument("--window-size=1280,1500")
    d = webdriver.Chrome(service=Service(driver), options=opts)
    yield d
    d.quit()


def _value(d, css: str) -> str:
    from selenium.webdriver.common.by import By

    return d.find_element(By.CSS_SELECTOR, css).get_attribute("value") or ""


def _errors(d) -> list[str]:
    """Error toasts and outputs marked "Error" on the page."""
    from selenium.webdriver.common.by import By

    return [e.text for e in d.find_elements(By.CSS_SELECTOR, ".toast-body, .error")]


def _toasts(d) -> list[str]:
    """The texts of the message toasts shown (empty while they render)."""
    from selenium.webdriver.common.by import By

    return [e.text for e in d.find_elements(By.CSS_SELECTOR, "[data-testid=toast-text]") if e.text]


def _screenshot(d, tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    assert d.save_screenshot(str(path))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    if os.environ.get("DEMO_SCREENSHOT_DIR"):
        shutil.copy(path, Path(os.environ["DEMO_SCREENSHOT_DIR"]) / name)
    return path


@pytest.mark.timeout(120)
def test_asr_and_tts_in_the_browser(server, browser, utterances, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    start = time.monotonic()
    d, wait = browser, WebDriverWait(browser, WAIT_S)
    d.get(server)
    wait.until(lambda d: d.find_elements(By.ID, "asr_run"))

    # ASR: upload the WAV into the audio widget, run, read the transcript box
    u, wav = utterances["en"]
    d.find_element(By.CSS_SELECTOR, "#asr_audio input[type=file]").send_keys(str(wav))
    wait.until(
        lambda d: d.find_elements(
            By.CSS_SELECTOR, "#asr_audio audio, #asr_audio .waveform-container"
        )
    )
    d.find_element(By.ID, "asr_run").click()
    wait.until(lambda d: _value(d, "#asr_text textarea") or _errors(d))
    assert not _errors(d)
    text = _value(d, "#asr_text textarea")
    assert re.fullmatch(r"[A-Za-z0-9 ,.'?!-]+", text), text
    assert _value(d, "#asr_info textarea").startswith("ASR in ")
    _screenshot(d, tmp_path, "demo_ui_asr.png")

    # TTS: type a sentence, run, the audio player and the spectrogram appear
    next(t for t in d.find_elements(By.CSS_SELECTOR, "button[role=tab]") if t.text == "TTS").click()
    box = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "#tts_text textarea"))
    wait.until(lambda d: box.is_displayed())
    box.send_keys(u.text)
    d.find_element(By.ID, "tts_run").click()
    wait.until(lambda d: _value(d, "#tts_info textarea") or _errors(d))
    assert not _errors(d)
    assert _value(d, "#tts_info textarea").startswith("TTS in ")
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#tts_audio audio"))
    spec = wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#tts_spec img"))
    wait.until(lambda d: d.execute_script("return arguments[0].naturalWidth", spec[0]) > 0)
    _screenshot(d, tmp_path, "demo_ui.png")

    # bad input: empty text -> the one-line message in a toast, no traceback
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys(Keys.DELETE)  # as a user would (clear() fires no input event)
    wait.until(lambda d: _value(d, "#tts_text textarea") == "")
    d.find_element(By.ID, "tts_run").click()
    toasts = wait.until(_toasts)
    assert toasts == ["text: empty (type a sentence to synthesise)"]
    assert "Traceback" not in d.page_source
    assert time.monotonic() - start < 120
