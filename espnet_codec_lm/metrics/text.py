"""Corpus-level WER / CER (jiwer) and BLEU (sacrebleu) with per-utterance details.

Rates are percentages, as in the paper's tables. WER = (S + D + I) / N over the whole test set
(not a mean of per-utterance rates); jiwer computes it from the lists. CER is the same over
characters of the normalised text (spaces already removed for Mandarin). BLEU is sacrebleu's
corpus BLEU with tokeniser ``zh`` for Mandarin targets and ``13a`` otherwise; the signature string
is kept for the protocol.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from typing import Literal

import jiwer
import sacrebleu

from espnet_codec_lm.metrics.normalize import is_char_lang


@dataclasses.dataclass
class UttErrors:
    """Edit counts of one utterance."""

    substitutions: int
    deletions: int
    insertions: int
    ref_len: int

    @property
    def errors(self) -> int:
        return self.substitutions + self.deletions + self.insertions

    @property
    def rate(self) -> float:
        """Per-utterance error rate in percent (inf when the reference is empty and hyp is not)."""
        if self.ref_len == 0:
            return 0.0 if self.errors == 0 else float("inf")
        return 100.0 * self.errors / self.ref_len


@dataclasses.dataclass
class ErrorRate:
    """A corpus error rate (percent) and the counts behind it."""

    unit: Literal["word", "char"]
    rate: float
    substitutions: int
    deletions: int
    insertions: int
    ref_len: int
    per_utt: list[UttErrors]

    @property
    def name(self) -> str:
        return "wer" if self.unit == "word" else "cer"


def _process(ref: str | list[str], hyp: str | list[str], unit: str):
    fn = jiwer.process_words if unit == "word" else jiwer.process_characters
    return fn(ref, hyp)


def error_rate(
    refs: Sequence[str], hyps: Sequence[str], unit: Literal["word", "char"] = "word"
) -> ErrorRate:
    """WER (``unit="word"``) or CER (``"char"``) of already-normalised texts, in percent.

    Utterances whose normalised reference is empty are kept (their insertions count) but the
    corpus must have at least one reference token.
    """
    if len(refs) != len(hyps):
        raise ValueError(f"error_rate: {len(refs)} references but {len(hyps)} hypotheses")
    if not refs:
        raise ValueError("error_rate: no utterances to score")
    per_utt = []
    for r, h in zip(refs, hyps):
        if r == "" and h == "":
            per_utt.append(UttErrors(0, 0, 0, 0))
            continue
        if r == "":  # jiwer needs a non-empty reference: every hypothesis token is an insertion
            n_ins = len(h.split()) if unit == "word" else len(h)
            per_utt.append(UttErrors(0, 0, n_ins, 0))
            continue
        o = _process(r, h, unit)
        per_utt.append(
            UttErrors(
                o.substitutions, o.deletions, o.insertions, o.hits + o.substitutions + o.deletions
            )
        )
    nonempty = [(r, h) for r, h in zip(refs, hyps) if r != ""]
    if not nonempty:
        raise ValueError("error_rate: every reference is empty after normalisation")
    o = _process([r for r, _ in nonempty], [h for _, h in nonempty], unit)
    # Insertions against empty references are not seen by jiwer; add them to the corpus counts.
    extra_ins = sum(u.insertions for u, r in zip(per_utt, refs) if r == "")
    n_ref = o.hits + o.substitutions + o.deletions
    errors = o.substitutions + o.deletions + o.insertions + extra_ins
    return ErrorRate(
        unit=unit,
        rate=100.0 * errors / n_ref,
        substitutions=o.substitutions,
        deletions=o.deletions,
        insertions=o.insertions + extra_ins,
        ref_len=n_ref,
        per_utt=per_utt,
    )


def error_rate_for_lang(refs: Sequence[str], hyps: Sequence[str], lang: str | None) -> ErrorRate:
    """CER for character languages (Mandarin), WER otherwise."""
    return error_rate(refs, hyps, "char" if is_char_lang(lang) else "word")


def bleu_tokenizer(lang: str | None) -> str:
    """sacrebleu tokeniser for a target language: ``zh`` for Mandarin, ``13a`` otherwise."""
    return "zh" if (lang or "").lower().startswith(("zh", "cmn", "yue")) else "13a"


@dataclasses.dataclass
class BleuResult:
    """Corpus BLEU, sacrebleu's signature, and sentence BLEU per utterance (details only)."""

    score: float
    signature: str
    per_utt: list[float]


def bleu(hyps: Sequence[str], refs: Sequence[str], lang: str | None) -> BleuResult:
    """sacrebleu corpus BLEU of detokenised ``hyps`` against one reference each."""
    if len(refs) != len(hyps):
        raise ValueError(f"bleu: {len(refs)} references but {len(hyps)} hypotheses")
    if not refs:
        raise ValueError("bleu: no utterances to score")
    tok = bleu_tokenizer(lang)
    metric = sacrebleu.BLEU(tokenize=tok)
    score = metric.corpus_score(list(hyps), [list(refs)]).score
    sent = sacrebleu.BLEU(tokenize=tok, effective_order=True)
    per_utt = [sent.sentence_score(h, [r]).score for h, r in zip(hyps, refs)]
    return BleuResult(score=score, signature=str(metric.get_signature()), per_utt=per_utt)


_CJK_SCRIPT = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")
_LATIN_SCRIPT = re.compile(r"[A-Za-z]")


def text_lang(text: str) -> str | None:
    """The language a text is written in, by its script: ``zh`` (CJK characters, no Latin
    letters), ``en`` (the reverse), None for both or neither (mixed or empty output)."""
    zh, en = bool(_CJK_SCRIPT.search(text)), bool(_LATIN_SCRIPT.search(text))
    if zh == en:
        return None
    return "zh" if zh else "en"


def target_lang_share(hyps: Sequence[str], langs: Sequence[str | None]) -> float:
    """Percentage of ``hyps`` written in their target language (:func:`text_lang`)."""
    if len(hyps) != len(langs) or not hyps:
        raise ValueError(f"target_lang_share: {len(hyps)} hypotheses for {len(langs)} languages")
    return 100.0 * sum(text_lang(h) == lang for h, lang in zip(hyps, langs)) / len(hyps)
