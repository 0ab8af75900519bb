"""Text targets: batched greedy search and beam search with length normalisation.

Beam search keeps ``K`` running hypotheses per input. At every step the ``K`` best expansions of
all running hypotheses (by summed log-probability) are chosen; those that end with
``<text_end>`` leave the beam as finished hypotheses with the normalised score
``logprob / length ** length_penalty`` (length counts the end token), the others run on. The beam
therefore refills to ``K`` from the survivors, as in ESPnet's ``BeamSearch``; with ``K = 1`` this
is exactly greedy search (test/decode/test_text_search.py checks it).

An input stops when no hypothesis runs any more, when its length guard is reached (running
hypotheses then compete unfinished), or when it holds ``nbest`` finished hypotheses and no
running one scores better, normalised at its current length, than the ``nbest``-th finished one
(the usual heuristic: with normalisation no exact bound exists). Finished inputs leave the batch,
so the remaining ones run faster.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from espnet_codec_lm.decode.config import TextSearchConfig
from espnet_codec_lm.decode.constraints import HeadConstraints
from espnet_codec_lm.decode.stepper import Stepper
from espnet_codec_lm.lm.vocab import STREAM_PAD


@dataclass
class TextHyp:
    """One decoded text: token ids (no boundary token), scores, whether it reached the end
    token, and the n-best list ``[(ids, score), ...]`` best first (beam search)."""

    ids: list[int]
    score: float  # normalised (beam) or summed log-probability (greedy)
    logprob: float
    finished: bool
    nbest: list[tuple[list[int], float]] = field(default_factory=list)


def _feed(tokens: torch.Tensor, num_streams: int) -> torch.Tensor:
    """Text tokens ``[R]`` -> step input ``[R, L']`` (stream 0, ``STREAM_PAD`` elsewhere)."""
    out = torch.full((tokens.shape[0], num_streams), STREAM_PAD, dtype=torch.long)
    out[:, 0] = tokens.cpu()
    return out


def greedy_search(
    stepper: Stepper,
    prefixes: list[torch.Tensor],
    max_lens: list[int],
    cons: HeadConstraints,
    min_len: int = 0,
    bias: torch.Tensor | None = None,
) -> list[TextHyp]:
    """Argmax decoding of every prefix (one row each). ``stepper`` computes the main head on the
    legal text rows (``cons.ranges("text")``): local index = token id, the last one the end.
    ``bias``: ``[B, n + 1]`` added to each input's local logits (-inf forbids a token)."""
    end = cons.end_index("text")
    logits = stepper.prefill(prefixes).main
    B = len(prefixes)
    rows = torch.arange(B)  # input of each running row
    ids: list[list[int]] = [[] for _ in range(B)]
    logp = [0.0] * B
    done = [False] * B
    t = 0
    while True:
        logits = cons.apply(logits, "text", t >= min_len)
        if bias is not None:
            logits = logits + bias.to(logits.device)[rows]
        lp = torch.log_softmax(logits, dim=-1)
        best_lp, tok = lp.max(dim=-1)
        keep = []
        for r, (b, tk, s) in enumerate(zip(rows.tolist(), tok.tolist(), best_lp.tolist())):
            logp[b] += s
            if tk == end:
                done[b] = True
                continue
            ids[b].append(tk)
            if t + 1 < max_lens[b]:
                keep.append(r)
        if not keep:
            break
        keep_t = torch.tensor(keep)
        if len(keep) < stepper.num_rows:  # a reorder copies the whole KV cache: only on change
            stepper.select(keep_t)
        rows = rows[keep_t]
        logits = stepper.step(
            _feed(cons.to_ids(tok.cpu()[keep_t], "text"), stepper.num_streams)
        ).main
        t += 1
    return [TextHyp(ids[b], logp[b], logp[b], done[b], [(ids[b], logp[b])]) for b in range(B)]


def beam_search(
    stepper: Stepper,
    prefixes: list[torch.Tensor],
    max_lens: list[int],
    cons: HeadConstraints,
    cfg: TextSearchConfig,
    bias: torch.Tensor | None = None,
) -> list[TextHyp]:
    """Beam search of every prefix (``cfg.beam_size`` rows each); see the module docstring.
    ``bias``: ``[B, n + 1]`` added to each input's local logits (-inf forbids a token)."""
    K, alpha, end = cfg.beam_size, cfg.length_penalty, cons.end_index("text")
    B = len(prefixes)
    logits = stepper.prefill(prefixes).main
    expand = torch.arange(B).repeat_interleave(K)
    stepper.select(expand)
    logits = logits.index_select(0, expand.to(logits.device))
    scores = torch.full((B, K), float("-inf"))
    scores[:, 0] = 0.0  # the K copies of a prefix are one hypothesis until it branches
    hist = torch.zeros(B * K, 0, dtype=torch.long)
    active = list(range(B))  # input of each group of K rows
    ended: list[list[tuple[float, float, list[int], bool]]] = [[] for _ in range(B)]
    t = 0
    while active:
        n = len(active)
        logits = cons.apply(logits, "text", t >= cfg.min_len)
        if bias is not None:
            rows_bias = bias.to(logits.device)[torch.tensor(active)].repeat_interleave(K, 0)
            logits = logits + rows_bias
        lp = torch.log_softmax(logits, dim=-1).cpu()
        V = lp.shape[-1]
        cand = (scores.view(n, K, 1) + lp.view(n, K, V)).view(n, K * V)
        top_s, top_i = cand.topk(K, dim=-1)
        origin, token = top_i // V, top_i % V
        hist = torch.cat(
            [
                hist.view(n, K, -1).gather(1, origin[..., None].expand(-1, -1, hist.shape[1])),
                token[..., None],
            ],
            dim=-1,
        ).view(n * K, -1)
        alive = torch.isfinite(top_s) & (token != end)
        scores = top_s.masked_fill(~alive, float("-inf"))
        norm = (t + 1) ** alpha
        keep = []
        for j, b in enumerate(active):
            for k in range(K):
                if token[j, k] == end and torch.isfinite(top_s[j, k]):
                    s = float(top_s[j, k])
                    ended[b].append((s / norm, s, hist[j * K + k, :-1].tolist(), True))
            if t + 1 >= max_lens[b]:  # length guard: running hypotheses compete unfinished
                for k in range(K):
                    if alive[j, k]:
                        s = float(scores[j, k])
                        ended[b].append((s / norm, s, hist[j * K + k].tolist(), False))
                continue
            if not bool(alive[j].any()):
                continue
            if len(ended[b]) >= cfg.nbest:
                ended[b].sort(key=lambda h: -h[0])
                if float(scores[j].max()) / norm <= ended[b][cfg.nbest - 1][0]:
                    continue
            keep.append(j)
        if not keep:
            break
        keep_t = torch.tensor(keep)
        rows = (keep_t[:, None] * K + origin[keep_t]).view(-1)
        stepper.select(rows)
        hist = hist.view(n, K, -1)[keep_t].view(len(keep) * K, -1)
        scores = scores[keep_t]
        feed = token[keep_t].view(-1).masked_fill(~alive[keep_t].view(-1), end)
        active = [active[j] for j in keep]
        logits = stepper.step(_feed(cons.to_ids(feed, "text"), stepper.num_streams)).main
        t += 1
    out = []
    for b in range(B):
        hyps = sorted(ended[b], key=lambda h: -h[0])
        if not hyps:  # max length 0: nothing could be generated
            out.append(TextHyp([], float("-inf"), float("-inf"), False, []))
            continue
        best = hyps[0]
        out.append(TextHyp(best[2], best[0], best[1], best[3], [(h[2], h[0]) for h in hyps]))
        out[-1].nbest = out[-1].nbest[: cfg.nbest]
    return out
