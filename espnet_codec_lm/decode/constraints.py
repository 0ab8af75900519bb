"""Which ids each head may emit, by target modality (ranges from :class:`VocabLayout`).

* Text target, main head: the tokenizer's ids ``[0, text_vocab_size)`` and ``<text_end>``. The
  base model's padding rows (``[text_vocab_size, text_rows)``), codec ids and the other boundary
  tokens are never emitted.
* Speech target, main head: codebook-1 ids and ``<speech_end>``.
* Speech target, parallel head ``k``: its own codebook only; the heads are built with
  ``codebook_size`` outputs (lm/model.py), so the restriction holds by construction and local
  index ``i`` means vocabulary id ``codebook_offset(k) + i``.

The main head is restricted the same way, by construction: the decoder multiplies the hidden
state only with the rows of the legal ids (two contiguous slices of the head's weight: the
content range and the end token), giving *local* logits ``[R, n + 1]`` whose last column is the
end token. Illegal ids therefore cannot be emitted, and a step skips most of the head: for a
speech target 1,025 of 155,012 rows at paper scale. A softmax over the legal columns equals the
softmax of the full logits with illegal ids masked to ``-inf``.

The end token can be forbidden (``allow_end=False``) to enforce a minimum length.

Script constraint (``decoding.text.script: target``, :func:`script_masks`): where the task fixes
the output language (ASR: the utterance's; S2TT: the target's), text pieces of the other
language's script are forbidden: an English target may not emit a piece containing a CJK
character or a partial UTF-8 byte (what byte-level BPEs and byte fallback spell CJK with), a
Mandarin target may not emit a piece containing a Latin letter. This is a decoding policy for
corpora whose transcripts are written in one script (no Latin words in Mandarin transcripts);
it is off by default.
"""

from __future__ import annotations

import re

import torch

from espnet_codec_lm.lm.vocab import VocabLayout


class HeadConstraints:
    """Legal rows of the main head per target modality, and local <-> vocabulary ids."""

    def __init__(self, layout: VocabLayout) -> None:
        self.layout = layout

    def ranges(self, modality: str) -> list[tuple[int, int]]:
        """``[(content_lo, content_hi), (end, end + 1)]``: the legal rows, in local order."""
        lay = self.layout
        if modality == "text":
            return [(0, lay.text_vocab_size), (lay.text_end, lay.text_end + 1)]
        if modality == "speech":
            return [lay.codebook_range(0), (lay.speech_end, lay.speech_end + 1)]
        raise ValueError(f"unknown target modality {modality!r}")

    def end_index(self, modality: str) -> int:
        """Local index of the end token (the last column of the local logits)."""
        lo, hi = self.ranges(modality)[0]
        return hi - lo

    def end_token(self, modality: str) -> int:
        return self.layout.text_end if modality == "text" else self.layout.speech_end

    def to_ids(self, local: torch.Tensor, modality: str) -> torch.Tensor:
        """Local indices -> vocabulary ids."""
        lo = self.ranges(modality)[0][0]
        end = self.end_index(modality)
        return torch.where(local == end, self.end_token(modality), local + lo)

    def legal_ids(self, modality: str, allow_end: bool = True) -> torch.Tensor:
        """Boolean ``[V]``: vocabulary ids the main head may emit for a ``modality`` target."""
        legal = torch.zeros(self.layout.size, dtype=torch.bool)
        (lo, hi), (end, _) = self.ranges(modality)
        legal[lo:hi] = True
        legal[end] = allow_end
        return legal

    def apply(self, local_logits: torch.Tensor, modality: str, allow_end: bool) -> torch.Tensor:
        """Local logits ``[R, n + 1]`` with the end column set to ``-inf`` unless allowed."""
        if allow_end:
            return local_logits
        out = local_logits.clone()
        out[:, self.end_index(modality)] = float("-inf")
        return out


_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3000-\u303f\uff00-\uffef]")
_LATIN = re.compile(r"[A-Za-z]")


def script_masks(tokenizer, text_vocab_size: int) -> dict[str, torch.Tensor]:
    """Per target language, boolean ``[text_vocab_size]``: the text ids it may emit (module
    docstring). Each id is judged by what it decodes to on its own."""
    en = torch.ones(text_vocab_size, dtype=torch.bool)
    zh = torch.ones(text_vocab_size, dtype=torch.bool)
    for i in range(text_vocab_size):
        piece = tokenizer.decode([i])
        if "\ufffd" in piece or _CJK.search(piece):
            en[i] = False
        if _LATIN.search(piece):
            zh[i] = False
    return {"en": en, "zh": zh}


def script_bias(masks: dict[str, torch.Tensor], langs: list[str | None]) -> torch.Tensor:
    """``[B, n + 1]`` additive bias over the local text logits (0 or -inf, the end token always
    allowed) for inputs whose targets are in ``langs`` (None: no constraint)."""
    n = len(next(iter(masks.values())))
    out = torch.zeros(len(langs), n + 1)
    for b, lang in enumerate(langs):
        if lang is None:
            continue
        if lang not in masks:
            raise ValueError(f"no script constraint for language {lang!r} (known: {list(masks)})")
        out[b, :n].masked_fill_(~masks[lang], float("-inf"))
    return out
