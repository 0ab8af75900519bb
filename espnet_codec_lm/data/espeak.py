"""Speech from espeak-ng for the synthetic corpus: English text, and Mandarin via tone pinyin.

Mandarin goes through the ``cmn-latn-pinyin`` voice fed with pinyin and tone digits
(``wo3 mai3 le5``), produced by pypinyin from the characters. The plain ``cmn`` voice would read
the tone digits as English words ("xi3" -> "zi three"), and its character reading is patchy, so
the characters are never given to espeak directly. espeak-ng writes 22,050 Hz; we resample to
16 kHz with soxr (a library resampler, high quality, deterministic).
"""

from __future__ import annotations

import io
import re
import shutil
import subprocess
from dataclasses import dataclass

import numpy as np

TARGET_RATE = 16000
ZH_VOICE = "cmn-latn-pinyin"

# Mandarin punctuation -> ASCII so espeak makes the usual pauses (it ignores full-width marks)
_ZH_PUNCT = {"，": ",", "。": ".", "？": "?", "！": "!", "、": ",", "：": ":", "；": ";"}
_HAN = re.compile(r"[\u4e00-\u9fff]")


class SynthesisError(RuntimeError):
    """espeak-ng failed or produced unusable audio; the message names the text."""


@dataclass(frozen=True)
class Voice:
    """One synthetic speaker: an espeak voice (with ``+variant``), pitch (0-99), rate (wpm)."""

    voice: str
    pitch: int = 50
    rate: int = 175

    def args(self) -> list[str]:
        """espeak-ng command-line options for this voice."""
        return ["-v", self.voice, "-p", str(self.pitch), "-s", str(self.rate)]


def espeak_available() -> bool:
    """True when the ``espeak-ng`` binary is on PATH."""
    return shutil.which("espeak-ng") is not None


def count_han(text: str) -> int:
    """Number of Han characters in ``text`` (each is one spoken syllable)."""
    return len(_HAN.findall(text))


def zh_to_pinyin(text: str) -> str:
    """Mandarin characters -> space-separated tone-digit pinyin (neutral tone = 5), ASCII punct."""
    from pypinyin import Style, lazy_pinyin

    syllables = lazy_pinyin(text, style=Style.TONE3, neutral_tone_with_five=True, tone_sandhi=True)
    out: list[str] = []
    for s in syllables:
        s = s.strip()
        if not s:
            continue
        if all(ch in _ZH_PUNCT for ch in s):
            # punctuation attaches to the previous syllable, as in written English
            punct = "".join(_ZH_PUNCT[ch] for ch in s)
            if out:
                out[-1] += punct
            continue
        out.append(s)
    return " ".join(out)


def espeak_input(text: str, lang: str) -> tuple[str, str | None]:
    """What espeak is given for ``text`` in ``lang``, and the voice it must use (None: any)."""
    if lang == "zh":
        return zh_to_pinyin(text), ZH_VOICE
    if lang == "en":
        return text, None
    raise ValueError(f"espeak: unsupported language '{lang}' (expected en or zh)")


def synthesize(text: str, lang: str, voice: Voice, sample_rate: int = TARGET_RATE) -> np.ndarray:
    """Speak ``text`` with ``voice``; returns mono float32 at ``sample_rate``."""
    import soundfile as sf
    import soxr

    spoken, need = espeak_input(text, lang)
    if need is not None and not voice.voice.startswith(need):
        raise ValueError(f"espeak: voice '{voice.voice}' cannot speak {lang}; use {need}[+variant]")
    cmd = ["espeak-ng", *voice.args(), "--stdout", spoken]
    try:
        proc = subprocess.run(cmd, capture_output=True, check=True, timeout=60)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, FileNotFoundError) as e:
        raise SynthesisError(f"espeak-ng failed on '{text}': {e}") from None
    wav, sr = sf.read(io.BytesIO(proc.stdout), dtype="float32")
    if wav.ndim > 1:
        wav = wav.mean(axis=1)
    if wav.size == 0 or not np.isfinite(wav).all():
        raise SynthesisError(f"espeak-ng produced empty or non-finite audio for '{text}'")
    if sr != sample_rate:
        wav = soxr.resample(wav, sr, sample_rate, quality="HQ").astype(np.float32)
    return wav


def espeak_phonemes(text: str, lang: str, voice: Voice | None = None) -> str:
    """espeak's IPA for what it would say (used to check Mandarin is read as Mandarin)."""
    spoken, need = espeak_input(text, lang)
    v = voice.voice if voice is not None else (need or "en-us")
    cmd = ["espeak-ng", "-q", "--ipa", "-v", v, spoken]
    proc = subprocess.run(cmd, capture_output=True, check=True, timeout=60, text=True)
    return proc.stdout.strip()
