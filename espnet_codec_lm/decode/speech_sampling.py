"""Speech targets: one frame per step, codebook 1 from the main head, codebooks 2..L' from the
parallel heads, top-k + temperature sampling (or argmax) on each, until ``<speech_end>``.

Every prefix is run once and its cache copied to ``num_samples`` rows. Each row draws from its own
``torch.Generator``, seeded from ``(seed, key, sample index)`` (:func:`row_seed`), so a sample
does not depend on which other inputs share its batch, on the batch size or on the padding:
batched decoding gives the samples one-by-one decoding gives, and a resumed run redraws the
same samples for the utterances it still has to do.

Per step and row, the main head is restricted to codebook-1 ids and ``<speech_end>`` (the end is
forbidden before ``min_len`` frames); the frame's codebooks are drawn independently from the same
hidden state (no delay pattern, SPEC section 2). When the main head draws ``<speech_end>`` the
other heads' draws of that step are discarded.

Classifier-free guidance (``guidance`` > 1, with an unconditional prefix per input): every row
has a twin that decodes the same frames from the prefix without its condition (the text of
TTS), and each head draws from ``log p_uncond + w (log p_cond - log p_uncond)``, which
sharpens what the condition says (MusicGen; doc/decoding.md). ``w = 1`` is plain sampling.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import torch

from espnet_codec_lm.decode.constraints import HeadConstraints
from espnet_codec_lm.decode.stepper import Stepper


@dataclass
class SpeechHyp:
    """One generated speech target: codec-local codes ``[T, L']`` and whether it ended with
    ``<speech_end>`` (False: cut by the length guard)."""

    codes: np.ndarray
    finished: bool


def row_seed(seed: int, key: str, sample: int) -> int:
    """A 63-bit seed for one (input, sample), independent of batching."""
    digest = hashlib.sha256(f"{seed}\x00{key}\x00{sample}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


class RowDraws:
    """Top-k + temperature draws for every row of a step at once.

    Each row owns a ``torch.Generator`` (its only randomness). Rather than one ``multinomial``
    call per row and step, each row pre-draws a block of ``block`` uniforms per head from its
    generator; a step turns the rows' uniforms into indices by inverse-CDF over the top-k
    probabilities, for all rows and heads in one tensor operation. A row's draws therefore
    depend only on its generator and the step, not on the other rows of the batch.
    """

    def __init__(self, gens: list[torch.Generator], num_heads: int, block: int = 256) -> None:
        self.gens, self.H, self.block = gens, num_heads, block
        self.uniforms = torch.empty(len(gens), block, num_heads)
        self.t = 0

    def keep(self, rows: list[int]) -> None:
        self.gens = [self.gens[r] for r in rows]
        self.uniforms = self.uniforms[torch.tensor(rows, dtype=torch.long)]

    def draw(self, heads: list[torch.Tensor], top_k: int, temperature: float) -> torch.Tensor:
        """Logits of each head (``[R, C_h]``) -> one index per row and head ``[R, H]``, drawn from
        the temperature-scaled softmax over each head's ``top_k`` best entries."""
        j = self.t % self.block
        if j == 0:
            for r, g in enumerate(self.gens):
                self.uniforms[r] = torch.rand(self.block, self.H, generator=g, device=g.device)
        self.t += 1
        k = min(top_k, max(h.shape[-1] for h in heads))
        vals, idx = [], []
        for h in heads:
            v, i = (h / temperature).topk(min(k, h.shape[-1]), dim=-1)
            if v.shape[-1] < k:  # a head smaller than k: pad with impossible entries
                v = torch.nn.functional.pad(v, (0, k - v.shape[-1]), value=float("-inf"))
                i = torch.nn.functional.pad(i, (0, k - i.shape[-1]))
            vals.append(v)
            idx.append(i)
        cdf = torch.softmax(torch.stack(vals, dim=1).float(), dim=-1).cumsum(-1)  # [R, H, k]
        u = self.uniforms[:, j].to(cdf.device)[..., None] * cdf[..., -1:]
        pick = (cdf <= u).sum(-1, keepdim=True).clamp_max(k - 1)  # first entry with cdf > u
        return torch.stack(idx, dim=1).gather(-1, pick).squeeze(-1).cpu()


def guide(cond: torch.Tensor, uncond: torch.Tensor, scale: float) -> torch.Tensor:
    """Classifier-free guidance of one head: ``log p_u + scale (log p_c - log p_u)`` (entries
    that either branch forbids stay forbidden)."""
    lc = torch.log_softmax(cond.float(), dim=-1)
    lu = torch.log_softmax(uncond.float(), dim=-1)
    out = lu + scale * (lc - lu)
    return out.masked_fill(torch.isinf(lc) | torch.isinf(lu), float("-inf"))


def sample_speech(
    stepper: Stepper,
    prefixes: list[torch.Tensor],
    max_lens: list[int],
    cons: HeadConstraints,
    num_samples: int,
    seeds: list[list[int]] | None,
    top_k: int = 30,
    temperature: float = 1.5,
    min_len: int = 1,
    end_prob: float = 0.0,
    uncond_prefixes: list[torch.Tensor] | None = None,
    guidance: float = 1.0,
) -> list[list[SpeechHyp]]:
    """``num_samples`` speech targets per prefix (``seeds[i][s]`` per input and sample; None =
    greedy: argmax on every head). Returns ``[input][sample]``.

    ``end_prob`` > 0: a row also ends when the model's own probability of ``<speech_end>``
    (softmax of the main head at temperature 1, before top-k) reaches ``end_prob``, whatever
    the sampled code. Sampling at a high temperature flattens the end token's probability into
    the codes', so a model that knows where the utterance ends may still run on to the length
    guard; this reads the end decision at temperature 1 (doc/decoding.md)."""
    lay = cons.layout
    L, C = lay.num_streams, lay.codebook_size
    # ``stepper`` computes the main head on codebook 1 (local 0..C-1) and the end (local C)
    offsets = torch.tensor([lay.codebook_offset(k) for k in range(L)])
    B, N = len(prefixes), num_samples
    guided = uncond_prefixes is not None and guidance != 1.0
    if guided and len(uncond_prefixes) != B:
        raise ValueError(f"{len(uncond_prefixes)} unconditional prefixes for {B} prefixes")
    heads = stepper.prefill(prefixes + (list(uncond_prefixes) if guided else []))
    expand = torch.arange(B).repeat_interleave(N)
    row_in, row_s = expand.clone(), torch.arange(N).repeat(B)
    if guided:  # rows [0, R): conditional; [R, 2R): their unconditional twins
        expand = torch.cat([expand, expand + B])
    stepper.select(expand)
    dev = heads.main.device
    main = heads.main.index_select(0, expand.to(dev))
    extra = None if heads.extra is None else heads.extra.index_select(0, expand.to(dev))
    draws = None
    if seeds is not None:
        gens = [
            torch.Generator(device=dev).manual_seed(seeds[b][s])
            for b, s in zip(row_in.tolist(), row_s.tolist())
        ]
        draws = RowDraws(gens, num_heads=L)
    frames: list[list[list[np.ndarray]]] = [[[] for _ in range(N)] for _ in range(B)]
    finished = [[False] * N for _ in range(B)]
    t = 0
    while True:
        sub = cons.apply(main, "speech", t >= min_len)  # [R, C + 1] (guided: [2R, C + 1])
        per_head = [sub] + ([] if extra is None else list(extra.unbind(1)))
        if guided:
            R = len(row_in)
            per_head = [guide(h[:R], h[R:], guidance) for h in per_head]
            sub = per_head[0]
        if draws is None:
            codes = torch.stack([h.argmax(-1) for h in per_head], dim=1).cpu()  # [R, L]
        else:
            codes = draws.draw(per_head, top_k, temperature)
        c1 = codes[:, 0]
        if end_prob > 0 and t >= min_len:
            p_end = torch.softmax(sub.float(), dim=-1)[:, C].cpu()
            c1 = torch.where(p_end >= end_prob, torch.full_like(c1, C), c1)
        keep = []
        for r, (b, s) in enumerate(zip(row_in.tolist(), row_s.tolist())):
            if int(c1[r]) == C:
                finished[b][s] = True
                continue
            frames[b][s].append(codes[r].numpy())
            if t + 1 < max_lens[b]:
                keep.append(r)
        if not keep:
            break
        keep_t = torch.tensor(keep)
        rows_t = torch.cat([keep_t, keep_t + len(row_in)]) if guided else keep_t
        if len(rows_t) < stepper.num_rows:  # a reorder copies the whole KV cache: only on change
            stepper.select(rows_t)
        row_in, row_s = row_in[keep_t], row_s[keep_t]
        if draws is not None and len(keep) < len(draws.gens):
            draws.keep(keep)
        feed = codes[keep_t] + offsets  # codec-local -> vocabulary ids
        if guided:  # the twin is fed the same frame
            feed = torch.cat([feed, feed])
        heads = stepper.step(feed)
        main, extra = heads.main, heads.extra
        t += 1
    out = []
    for b in range(B):
        hyps = []
        for s in range(N):
            arr = np.stack(frames[b][s]) if frames[b][s] else np.zeros((0, L), np.int64)
            hyps.append(SpeechHyp(arr.astype(np.int64), finished[b][s]))
        out.append(hyps)
    return out
