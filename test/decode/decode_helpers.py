"""Helpers of the decoding tests: a hand-built bigram "LM" whose probabilities are known
exactly, and prefix builders."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from espnet_codec_lm.lm.vocab import STREAM_PAD, VocabLayout


class _Out:
    def __init__(self, hidden, cache):
        self.hidden_states = hidden
        self.past_key_values = cache


class BigramLM(nn.Module):
    """Next-token log-probabilities depend only on stream 0 of the current position:
    ``table[prev] -> [V]`` (main head) and ``extra[prev] -> [L'-1, C]`` (parallel heads). The
    hidden state is the one-hot of the current token, so the heads are plain table lookups and
    the "cache" needs no state. Quacks like SpeechLM for :class:`Stepper`."""

    def __init__(self, layout: VocabLayout, table: torch.Tensor, extra: torch.Tensor | None = None):
        super().__init__()
        from transformers import DynamicCache

        self._cache_cls = DynamicCache
        self.layout = layout
        V = layout.size
        self.lm = nn.Module()
        self.lm.lm_head = nn.Linear(V, V, bias=False)
        self.lm.lm_head.weight.data = table.T.contiguous().float()
        self.extra = extra  # [V, L'-1, C]
        self.config = type("Cfg", (), {"max_position_embeddings": 4096})()
        self.calls = 0

    @property
    def num_streams(self) -> int:
        return self.layout.num_streams

    def extra_logits(self, hidden):
        if self.extra is None:
            return None
        return torch.einsum("rv,vkc->rkc", hidden, self.extra)

    def forward(
        self,
        tokens,
        attention_mask=None,
        position_ids=None,
        past_key_values=None,
        use_cache=False,
        return_logits=False,
        return_hidden=True,
    ):
        self.calls += 1
        ids = tokens[..., 0].clamp_min(0)
        hidden = torch.nn.functional.one_hot(ids, self.layout.size).float()
        hidden = hidden * tokens[..., 0].ne(STREAM_PAD)[..., None]
        cache = past_key_values if past_key_values is not None else self._cache_cls()
        return _Out(hidden, cache if use_cache else None)


def text_prefix(layout: VocabLayout, ids: list[int]) -> np.ndarray:
    """``<text_start> ids... <text_end> <text_start>`` as a [T, L'] prefix (target = text)."""
    rows = [layout.text_start, *ids, layout.text_end, layout.text_start]
    out = np.full((len(rows), layout.num_streams), STREAM_PAD, np.int64)
    out[:, 0] = rows
    return out


def speech_prefix(layout: VocabLayout, ids: list[int]) -> np.ndarray:
    """``<text_start> ids... <text_end> <speech_start>`` (target = speech)."""
    out = text_prefix(layout, ids)
    out[-1, 0] = layout.speech_start
    return out
