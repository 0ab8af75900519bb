"""Does the synthetic Mandarin speech really say the characters?

Three independent checks (see ``doc/data.md`` for the numbers on the default corpus):

1. **Read as Mandarin, one syllable per character.** espeak-ng's own phoneme output (``--ipa``)
   for what it is given carries one tone mark per Mandarin syllable (digits 1-5; its IPA writes
   tone 3 as ``ɜ``). The count must equal the number of Han characters, and there must be no
   language switch (``(en)``), which is what the plain ``cmn`` voice does when it spells pinyin
   or digits the English way.
2. **Not silent.** Most 25 ms frames carry energy above -40 dB of the utterance peak, and the
   peak is well above zero.
3. **Duration grows with the character count.** Over the Mandarin utterances, the Pearson
   correlation between duration and character count is high and the slope (seconds per
   character) is in the range of read Mandarin (0.15-0.35 s; English-spelled pinyin gives ~0.41).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from espnet_codec_lm.data.espeak import count_han, espeak_phonemes

_TONE = re.compile(r"[1-5ɜ]")


def ipa_syllables(ipa: str) -> int:
    """Tone-marked syllables in espeak's IPA for Mandarin."""
    return len(_TONE.findall(ipa))


def active_fraction(wav: np.ndarray, sample_rate: int = 16000, floor_db: float = -40.0) -> float:
    """Fraction of 25 ms frames whose RMS is within ``floor_db`` of the loudest frame."""
    n = int(0.025 * sample_rate)
    frames = wav[: len(wav) // n * n].reshape(-1, n) if len(wav) >= n else wav[None, :]
    rms = np.sqrt((frames.astype(np.float64) ** 2).mean(axis=1)) + 1e-12
    return float((20 * np.log10(rms / rms.max()) > floor_db).mean())


@dataclass
class MandarinReport:
    """Result of :func:`check_mandarin`; ``problems`` is empty when every check passes."""

    n: int = 0
    pearson_r: float = float("nan")
    sec_per_char: float = float("nan")
    intercept: float = float("nan")
    min_active_fraction: float = float("nan")
    ipa_mismatches: int = 0
    problems: list[str] = field(default_factory=list)


def check_text_is_read_as_mandarin(text: str, voice=None) -> str | None:
    """``None`` if espeak reads ``text`` as one Mandarin syllable per character, else why not."""
    ipa = espeak_phonemes(text, "zh", voice)
    if "(en)" in ipa:
        return f"'{text}': espeak switches to English: {ipa}"
    n_syl, n_chr = ipa_syllables(ipa), count_han(text)
    if n_syl != n_chr:
        return f"'{text}': {n_syl} spoken syllables for {n_chr} characters: {ipa}"
    return None


def check_mandarin(
    texts: dict[str, str],
    audio: dict[str, np.ndarray],
    sample_rate: int = 16000,
    min_r: float = 0.8,
    sec_per_char: tuple[float, float] = (0.15, 0.35),
    min_active: float = 0.5,
    check_ipa: bool = True,
) -> MandarinReport:
    """Run the three checks on Mandarin utterances (``texts`` and ``audio`` keyed by id)."""
    rep = MandarinReport(n=len(texts))
    chars = np.array([count_han(texts[u]) for u in texts], dtype=np.float64)
    durs = np.array([len(audio[u]) / sample_rate for u in texts], dtype=np.float64)
    if check_ipa:
        for u, t in texts.items():
            why = check_text_is_read_as_mandarin(t)
            if why:
                rep.ipa_mismatches += 1
                rep.problems.append(f"{u}: {why}")
    act = {u: active_fraction(audio[u], sample_rate) for u in texts}
    rep.min_active_fraction = min(act.values()) if act else float("nan")
    for u, a in act.items():
        if a < min_active or np.abs(audio[u]).max() < 0.01:
            rep.problems.append(f"{u}: mostly silent (active fraction {a:.2f})")
    if len(texts) >= 3 and chars.std() > 0 and durs.std() == 0:
        rep.problems.append("duration vs characters: every utterance has the same duration")
    elif len(texts) >= 3 and chars.std() > 0:
        rep.pearson_r = float(np.corrcoef(chars, durs)[0, 1])
        rep.sec_per_char, rep.intercept = (float(x) for x in np.polyfit(chars, durs, 1))
        if rep.pearson_r < min_r:
            rep.problems.append(f"duration vs characters: Pearson r {rep.pearson_r:.2f} < {min_r}")
        lo, hi = sec_per_char
        if not lo <= rep.sec_per_char <= hi:
            msg = f"{rep.sec_per_char:.3f} s per character outside [{lo}, {hi}]"
            rep.problems.append(f"duration vs characters: {msg}")
    return rep
