"""Which ids each head may emit, by target modality (ranges from :class:`VocabLayout`).

* Text target, main head: the tokenizer's ids ``[0, text_vocab_size)`` and ``<text_end>``. The
  base model's padding rows (``[text_vocab_size, text_rows)``), codec ids and the other boundary
  tokens are never emitted.
* Speech target, main head: codebook-1 ids and ``<speech_end>``.
* Speech target, parallel head ``k``: its own codebook only; the heads are built with
  ``codebook_size`` outputs (lm/model.py), so the restriction holds by construction and local
  index ``i`` means vocabulary id ``codebook_offset(k) + i``.

The end token can be forbidden (``allow_end=False``) to enforce a minimum length.
"""

from __future__ import annotations

import torch

from espnet_codec_lm.lm.vocab import VocabLayout


class HeadConstraints:
    """Additive logit masks (0 = legal, -inf = illegal) for the main head, cached per device."""

    def __init__(self, layout: VocabLayout) -> None:
        self.layout = layout
        self._cache: dict[tuple, torch.Tensor] = {}

    def legal_ids(self, modality: str, allow_end: bool = True) -> torch.Tensor:
        """Boolean ``[V]``: ids the main head may emit for a ``modality`` target."""
        lay = self.layout
        legal = torch.zeros(lay.size, dtype=torch.bool)
        if modality == "text":
            legal[: lay.text_vocab_size] = True
            end = lay.text_end
        elif modality == "speech":
            lo, hi = lay.codebook_range(0)
            legal[lo:hi] = True
            end = lay.speech_end
        else:
            raise ValueError(f"unknown target modality {modality!r}")
        legal[end] = allow_end
        return legal

    def mask(self, modality: str, allow_end: bool = True, device=None) -> torch.Tensor:
        """Float ``[V]``: 0 where legal, ``-inf`` elsewhere."""
        key = (modality, allow_end, str(device))
        if key not in self._cache:
            m = torch.full((self.layout.size,), float("-inf"))
            m[self.legal_ids(modality, allow_end)] = 0.0
            self._cache[key] = m.to(device) if device is not None else m
        return self._cache[key]

    def end_token(self, modality: str) -> int:
        return self.layout.text_end if modality == "text" else self.layout.speech_end

    def apply(self, logits: torch.Tensor, modality: str, allow_end: bool | torch.Tensor = True):
        """``logits [R, V]`` + mask. ``allow_end`` may be a per-row boolean ``[R]``."""
        if isinstance(allow_end, torch.Tensor):
            out = logits + self.mask(modality, True, logits.device)
            end = self.end_token(modality)
            out[:, end] = torch.where(
                allow_end.to(logits.device), out[:, end], torch.full_like(out[:, end], -torch.inf)
            )
            return out
        return logits + self.mask(modality, bool(allow_end), logits.device)
