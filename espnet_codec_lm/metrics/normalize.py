"""Text normalisers applied to hypotheses and references before WER / CER / ASR-BLEU.

English: Whisper's ``EnglishTextNormalizer`` as shipped by ``transformers``
(``models/whisper/english_normalizer.py``): lower case, brackets and fillers removed, contractions
and abbreviations expanded ("mr" -> "mister"), spelled-out numbers turned into digits
("twenty five" -> "25"), currency and ordinals standardised, punctuation removed. Its optional
British -> American spelling table is the ``normalizer.json`` that Whisper checkpoints ship; we do
not vendor it: give its path, or it is picked up from the Whisper model directory when one is
configured, else the spelling step is skipped (the protocol line says which).

Mandarin: NFKC (full-width -> half-width), traditional -> simplified characters (``zhconv``;
Whisper often answers in traditional characters), lower case (embedded Latin words), then every
Unicode punctuation / symbol character and all whitespace removed, so CER compares characters.

Other languages: Whisper's ``BasicTextNormalizer`` (lower case, punctuation removed).
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Mapping
from pathlib import Path

import regex

# Languages scored by characters (no word delimiters).
CHAR_LANGS = frozenset({"zh", "cmn", "yue", "zh-cn", "zh-tw", "ja", "th"})

_PUNCT_OR_SPACE = regex.compile(r"[\p{P}\p{S}\s]+")


def is_char_lang(lang: str | None) -> bool:
    """True when ``lang`` is scored by characters (CER) rather than words (WER)."""
    return (lang or "").lower() in CHAR_LANGS


def normalize_mandarin(text: str, to_simplified: bool = True) -> str:
    """Mandarin normaliser: NFKC, simplified characters, lower case, punctuation/spaces removed."""
    text = unicodedata.normalize("NFKC", text)
    if to_simplified:
        import zhconv

        text = zhconv.convert(text, "zh-cn")
    return _PUNCT_OR_SPACE.sub("", text.lower())


def load_spelling_mapping(path: str | Path) -> dict[str, str]:
    """Read Whisper's British -> American spelling table (``normalizer.json``)."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise ValueError(f"{path}: cannot read the English spelling mapping: {e}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: the English spelling mapping must be a JSON object")
    return {str(k): str(v) for k, v in data.items()}


class TextNormalizer:
    """Language-aware normaliser: ``norm(text, lang)``; ``describe()`` is the protocol line."""

    def __init__(
        self,
        english_spelling: Mapping[str, str] | None = None,
        spelling_source: str | None = None,
        zh_to_simplified: bool = True,
    ) -> None:
        from transformers.models.whisper.english_normalizer import (
            BasicTextNormalizer,
            EnglishTextNormalizer,
        )

        self._english = EnglishTextNormalizer(dict(english_spelling or {}))
        self._basic = BasicTextNormalizer()
        self.spelling_source = spelling_source if english_spelling else None
        self.zh_to_simplified = zh_to_simplified

    def __call__(self, text: str, lang: str | None) -> str:
        lang = (lang or "").lower()
        if is_char_lang(lang):
            return normalize_mandarin(text, self.zh_to_simplified)
        if lang.startswith("en"):
            return " ".join(self._english(text).split())
        return " ".join(self._basic(text).split())

    def describe(self) -> str:
        """One line naming exactly what the normaliser does (goes under the result tables)."""
        import transformers

        spelling = (
            f"spelling map {self.spelling_source}" if self.spelling_source else "no spelling map"
        )
        zh = "traditional->simplified (zhconv), " if self.zh_to_simplified else ""
        return (
            f"EN: Whisper EnglishTextNormalizer (transformers {transformers.__version__}, "
            f"{spelling}); ZH: NFKC, {zh}lower case, punctuation/symbols/spaces removed, "
            "characters compared"
        )
