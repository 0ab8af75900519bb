"""Validation loss per task and held-out text perplexity (the forgetting monitor).

Both run the model in eval mode under ``no_grad`` over this rank's share of the data and sum
log-likelihoods and target counts over ranks, so the numbers do not depend on the process count.
With FSDP every rank must run the same number of forward passes (each one all-gathers the
weights), so ranks with fewer batches repeat their last batch with its statistics discarded.

Text perplexity is ``exp(sum of token NLL / number of predicted tokens)`` over a held-out text
file, one text per line, read in order until ``max_tokens`` targets, each line fed as plain text
tokens (the base LLM's native format; the first token of a line is context only). The softmax is
taken over the **text rows** of the vocabulary, i.e. the base LLM's own vocabulary: the monitor
then measures text modelling in the base model's terms, and for Text LLM Initialization its
first value equals the base LLM's perplexity exactly (new speech rows in the softmax would
otherwise inflate it by an amount that depends only on their random init). The perplexity over
the full extended vocabulary is reported beside it (``text_ppl_fullvocab``); the gap is the
probability mass the model puts on speech and boundary tokens in a text context.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import torch

from espnet_codec_lm.lm.vocab import IGNORE_ID, STREAM_PAD
from espnet_codec_lm.train.distributed import DistEnv, all_reduce_sum, autocast
from espnet_codec_lm.train.losses import LossStats, forward_batch, model_losses


def _equal_rounds(batches: Iterable[dict], env: DistEnv) -> Iterator[tuple[dict, bool]]:
    """Yield ``(batch, counts)``; pads this rank to the largest batch count over ranks."""
    mine = list(batches)
    n = len(mine)
    if env.distributed:
        t = torch.tensor([len(mine)], dtype=torch.long)
        torch.distributed.all_reduce(t, op=torch.distributed.ReduceOp.MAX)
        n = int(t.item())
    if n and not mine:
        raise ValueError(f"rank {env.rank} has no evaluation data while others have {n} batches")
    for i in range(n):
        yield (mine[i], True) if i < len(mine) else (mine[-1], False)


@torch.no_grad()
def evaluate_loss(
    model: torch.nn.Module,
    batches: Iterable[dict],
    task_names: list[str],
    num_heads: int,
    env: DistEnv,
) -> LossStats:
    """Summed per-head and per-task losses of ``batches`` over all ranks."""
    was_training = model.training
    model.eval()
    stats = LossStats(num_heads, len(task_names))
    try:
        for batch, counts in _equal_rounds(batches, env):
            batch = {k: v.to(env.device) for k, v in batch.items()}
            with autocast(env):
                out = forward_batch(model, batch)
            if counts:
                stats.add(model_losses(out), batch)
    finally:
        model.train(was_training)
    return stats.reduce(env)


def read_heldout_lines(path: str | Path) -> list[str]:
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: held-out text file not found")
    return [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]


def text_ppl_batches(
    lines: list[str],
    encode: Callable[[str], list[int]],
    num_streams: int,
    micro_batch: int,
    max_len: int,
    max_tokens: int,
    rank: int = 0,
    world_size: int = 1,
    prefix: list[int] = (),
) -> tuple[list[dict], int]:
    """Batches of held-out text for this rank, and the number of scored tokens (all ranks).
    ``prefix`` ids (e.g. ``<text_start>``) go before every line as context only: the scored
    targets are the same as without it (each line's tokens from the second on)."""
    rows: list[list[int]] = []
    total = 0
    skip = len(prefix)
    for line in lines:
        ids = list(encode(line))[: max_len - skip]
        if len(ids) < 2:
            continue
        rows.append(list(prefix) + ids)
        total += len(ids) - 1
        if total >= max_tokens:
            break
    batches = []
    mine = rows[rank::world_size]
    for i in range(0, len(mine), micro_batch):
        chunk = mine[i : i + micro_batch]
        T = max(len(r) for r in chunk)
        inp = torch.full((len(chunk), T, num_streams), STREAM_PAD, dtype=torch.long)
        lab = torch.full((len(chunk), T, num_streams), IGNORE_ID, dtype=torch.long)
        inp[:, :, 0] = 0  # padding id (never a target; causal attention keeps it after the text)
        for b, r in enumerate(chunk):
            inp[b, : len(r), 0] = torch.tensor(r)
            lab[b, skip : len(r) - 1, 0] = torch.tensor(r[skip + 1 :])
        pos = torch.arange(T).expand(len(chunk), T).clone()
        batches.append({"input_ids": inp, "labels": lab, "position_ids": pos})
    return batches, total


@torch.no_grad()
def text_perplexity(
    model: torch.nn.Module, batches: list[dict], text_rows: int, env: DistEnv
) -> dict[str, float]:
    """``{"text_ppl", "text_ppl_fullvocab", "tokens"}`` over all ranks (module docstring)."""
    was_training = model.training
    model.eval()
    sums = torch.zeros(3, dtype=torch.float64)  # NLL (text rows), NLL (full vocab), count
    try:
        for batch, counts in _equal_rounds(batches, env):
            batch = {k: v.to(env.device) for k, v in batch.items()}
            with autocast(env):
                out = model(
                    batch["input_ids"], position_ids=batch["position_ids"], return_logits=True
                )
            if not counts:
                continue
            y = batch["labels"][..., 0]
            keep = y != IGNORE_ID
            logits = out.logits.float()[keep]  # [N, V]
            target = y[keep].unsqueeze(-1)
            full = -torch.log_softmax(logits, -1).gather(-1, target)
            text = -torch.log_softmax(logits[:, :text_rows], -1).gather(-1, target)
            sums += torch.stack([text.sum(), full.sum(), keep.sum()]).double().cpu()
    finally:
        model.train(was_training)
    sums = all_reduce_sum(sums, env)
    n = float(sums[2])
    return {
        "text_ppl": math.exp(float(sums[0]) / n) if n else math.nan,
        "text_ppl_fullvocab": math.exp(float(sums[1]) / n) if n else math.nan,
        "tokens": int(n),
    }
