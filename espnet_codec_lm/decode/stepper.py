"""Run the speech LM one position at a time over a batch of rows, with or without the KV cache.

A *row* is one running hypothesis (an input, one of its beams, or one of its samples). The
stepper owns what a row needs to continue: the transformers ``DynamicCache`` (or, without the
cache, the whole token history), the attention mask and the next position id.

Padding. Prefixes of different lengths are padded on the ``left`` (default) or the ``right``.
Either way padding positions get ``attention_mask = 0`` and real positions get position ids
``0, 1, 2, ...`` counted over real tokens only, so a padded row computes exactly what it would
alone. With right padding the padding stays *between* the prefix and the generated tokens: the
mask keeps it invisible and each row's next position id continues from its own prefix length, so
both sides are correct (test/decode/test_batching.py checks batch == one by one for both).

The cache. ``transformers``' ``DynamicCache`` grows each layer's keys and values with
``torch.cat``, which copies the whole cache at every step: O(T) bytes per step, O(T^2) per
decode (at batch 8 and 600 positions, ~40 MB per step on the debug model, more than its weights).
:class:`GrowingKVLayer` keeps the same ``DynamicCache`` object and API but writes into a buffer
whose capacity doubles when full, and hands attention a view of its filled part, so a step copies
only the new position. Models with sliding-window layers keep the stock layers.

Without the cache (``use_cache=False``) every step recomputes the whole sequence; it gives the
same outputs and exists to check the cache and to measure what it saves (bench/decode_speed.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from espnet_codec_lm.lm.vocab import STREAM_PAD

try:  # transformers >= 4.56: per-layer caches
    from transformers.cache_utils import DynamicCache, DynamicLayer
except ImportError:  # pragma: no cover - older transformers: the stock cache only
    DynamicCache = DynamicLayer = None

_MIN_CAPACITY = 64


if DynamicLayer is not None:

    class GrowingKVLayer(DynamicLayer):
        """A ``DynamicLayer`` whose keys / values live in a buffer ``[B, H, capacity, D]`` that
        doubles when full (amortised O(1) per appended position instead of a full copy);
        ``self.keys`` / ``self.values`` are views of the filled part, so everything that reads
        them (sequence length, masks, attention) sees a plain dynamic cache."""

        _kbuf: torch.Tensor | None = None
        _vbuf: torch.Tensor | None = None

        def update(self, key_states, value_states, *args, **kwargs):
            if not self.is_initialized:
                self.lazy_initialization(key_states, value_states)
            n_old = self.get_seq_length()
            n_new = n_old + key_states.shape[-2]
            if self._kbuf is None or n_new > self._kbuf.shape[-2]:
                capacity = max(_MIN_CAPACITY, 2 * n_new)
                self._kbuf = self._grow(self._kbuf, key_states, n_old, capacity)
                self._vbuf = self._grow(self._vbuf, value_states, n_old, capacity)
            self._kbuf[:, :, n_old:n_new] = key_states
            self._vbuf[:, :, n_old:n_new] = value_states
            self.keys = self._kbuf[:, :, :n_new]
            self.values = self._vbuf[:, :, :n_new]
            return self.keys, self.values

        @staticmethod
        def _grow(buf, like: torch.Tensor, n_old: int, capacity: int) -> torch.Tensor:
            B, H, _, D = like.shape
            new = like.new_empty(B, H, capacity, D)
            if buf is not None and n_old:
                new[:, :, :n_old] = buf[:, :, :n_old]
            return new

        def _rebuffer(self, select) -> None:
            n = self.get_seq_length()
            if n == 0:
                return
            self._kbuf = select(self._kbuf)
            self._vbuf = select(self._vbuf)
            self.keys, self.values = self._kbuf[:, :, :n], self._vbuf[:, :, :n]

        def reorder_cache(self, beam_idx: torch.LongTensor) -> None:
            self._rebuffer(lambda b: b.index_select(0, beam_idx.to(b.device)))

        def batch_select_indices(self, indices: torch.Tensor) -> None:
            self._rebuffer(lambda b: b[indices, ...])

        def batch_repeat_interleave(self, repeats: int) -> None:
            self._rebuffer(lambda b: b.repeat_interleave(repeats, dim=0))

        def crop(self, tokens_to_remove: int) -> None:
            super().crop(tokens_to_remove)  # views of the buffer: the next update overwrites

        def reset(self) -> None:
            self._kbuf = self._vbuf = None
            super().reset()


def new_kv_cache(model):
    """A ``DynamicCache`` for ``model`` with :class:`GrowingKVLayer` layers (None: let the
    model make its stock cache, e.g. for sliding-window layers or an old ``transformers``)."""
    config = getattr(model, "config", None)
    if DynamicCache is None or not hasattr(config, "get_text_config"):
        return None  # not a transformers model (a test double): its own cache
    cache = DynamicCache(config=config)
    if not cache.layers or any(type(layer) is not DynamicLayer for layer in cache.layers):
        return None
    cache.layers = [GrowingKVLayer() for _ in cache.layers]
    return cache


@dataclass
class HeadLogits:
    """Logits of the last position of every row: main head ``[R, V]`` (extended vocabulary; with
    ``head_ranges`` only those rows, concatenated: ``[R, sum of range sizes]``) and parallel heads
    ``[R, L'-1, codebook_size]`` (None when ``L' = 1``)."""

    main: torch.Tensor
    extra: torch.Tensor | None


class Stepper:
    """Feeds prefixes, then one position per row per step; see the module docstring."""

    def __init__(
        self,
        model,
        use_cache: bool = True,
        padding_side: str = "left",
        head_ranges: list[tuple[int, int]] | None = None,
    ) -> None:
        """``head_ranges``: compute the main head only for these row ranges of its weight
        (the legal ids of the target, :class:`HeadConstraints`); None = every row."""
        if padding_side not in ("left", "right"):
            raise ValueError(f"padding_side must be left or right, got {padding_side!r}")
        self.model = model
        self.head_ranges = head_ranges
        self.use_cache = use_cache
        self.padding_side = padding_side
        self.num_streams = model.num_streams
        self.device = next(model.parameters()).device
        self.cache = None
        self.tokens: torch.Tensor | None = None  # [R, S, L'] history (no-cache mode)
        self.mask: torch.Tensor | None = None  # [R, S] 1 = real position
        self.next_pos: torch.Tensor | None = None  # [R] position id of the next token
        self.padded = False  # any padding position in any row (else no mask is passed)

    @property
    def num_rows(self) -> int:
        return 0 if self.mask is None else int(self.mask.shape[0])

    def _heads(self, hidden: torch.Tensor) -> HeadLogits:
        head = self.model.lm.lm_head
        if self.head_ranges is None:
            main = head(hidden).float()
        else:  # row slices of the weight are views: no copy, and only those rows are read
            w, b = head.weight, head.bias
            main = torch.cat(
                [
                    F.linear(hidden, w[lo:hi], None if b is None else b[lo:hi])
                    for lo, hi in self.head_ranges
                ],
                dim=-1,
            ).float()
        extra = self.model.extra_logits(hidden)
        return HeadLogits(main, None if extra is None else extra.float())

    def _attention_mask(self, mask: torch.Tensor) -> torch.Tensor | None:
        """The mask the model needs: None when no row has padding (plain causal attention; the
        model then builds no mask at every step)."""
        return mask if self.padded else None

    @torch.inference_mode()
    def prefill(self, prefixes: list[torch.Tensor]) -> HeadLogits:
        """Run the prefixes (each ``[T_i, L']`` int64) as one padded batch; returns the logits of
        each row's last real position."""
        if not prefixes:
            raise ValueError("no prefixes to decode")
        L = self.num_streams
        lens = torch.tensor([int(p.shape[0]) for p in prefixes])
        if int(lens.min()) < 1:
            raise ValueError("an empty prefix cannot be decoded")
        B, S = len(prefixes), int(lens.max())
        tokens = torch.full((B, S, L), STREAM_PAD, dtype=torch.long)
        mask = torch.zeros(B, S, dtype=torch.long)
        for i, p in enumerate(prefixes):
            p = torch.as_tensor(p, dtype=torch.long).reshape(-1, L)
            n = p.shape[0]
            sl = slice(S - n, S) if self.padding_side == "left" else slice(0, n)
            tokens[i, sl] = p
            mask[i, sl] = 1
        tokens, mask = tokens.to(self.device), mask.to(self.device)
        positions = (mask.cumsum(-1) - 1).clamp_min(0)
        self.padded = bool(int(lens.min()) < S)
        out = self.model(
            tokens,
            attention_mask=self._attention_mask(mask),
            position_ids=positions,
            past_key_values=new_kv_cache(self.model) if self.use_cache else None,
            use_cache=self.use_cache,
            return_logits=False,
            return_hidden=True,
        )
        if self.padding_side == "left":
            last = torch.full((B,), S - 1, dtype=torch.long)
        else:
            last = lens - 1
        hidden = out.hidden_states[torch.arange(B), last.to(self.device)]
        self.cache = out.past_key_values if self.use_cache else None
        self.tokens = None if self.use_cache else tokens
        self.mask = mask
        self.next_pos = lens.to(self.device)
        return self._heads(hidden)

    @torch.inference_mode()
    def step(self, tokens: torch.Tensor) -> HeadLogits:
        """Append one position per row (``[R, L']``: a text token with ``STREAM_PAD`` in the
        other streams, or a speech frame) and return the logits after it."""
        R = self.num_rows
        tokens = tokens.reshape(R, 1, self.num_streams).to(self.device)
        self.mask = torch.cat([self.mask, self.mask.new_ones(R, 1)], dim=1)
        if self.use_cache:
            out = self.model(
                tokens,
                attention_mask=self._attention_mask(self.mask),
                position_ids=self.next_pos[:, None],
                past_key_values=self.cache,
                use_cache=True,
                return_logits=False,
                return_hidden=True,
            )
            self.cache = out.past_key_values
        else:
            self.tokens = torch.cat([self.tokens, tokens], dim=1)
            out = self.model(
                self.tokens,
                attention_mask=self.mask,
                position_ids=(self.mask.cumsum(-1) - 1).clamp_min(0),
                use_cache=False,
                return_logits=False,
                return_hidden=True,
            )
        self.next_pos = self.next_pos + 1
        return self._heads(out.hidden_states[:, -1])

    def select(self, rows: torch.Tensor) -> None:
        """Keep / reorder / duplicate rows: row ``i`` becomes old row ``rows[i]`` (beam reorder,
        expansion to beams or samples, dropping finished rows)."""
        rows = rows.to(self.device)
        self.mask = self.mask.index_select(0, rows)
        self.padded = bool((self.mask == 0).any())
        self.next_pos = self.next_pos.index_select(0, rows)
        if self.use_cache:
            self.cache.reorder_cache(rows)
        else:
            self.tokens = self.tokens.index_select(0, rows)
