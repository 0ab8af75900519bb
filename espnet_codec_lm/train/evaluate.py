"""Validation loss per task and held-out text perplexity (the forgetting monitor).

Both run the model in eval mode under ``no_grad`` over this rank's share of the data and sum the
per-head losses and target counts over ranks, so the numbers do not depend on the process count.
With FSDP every rank must run the same number of forward passes (each one all-gathers the
weights), so ranks with fewer batches repeat their last batch with its statistics discarded.

Text perplexity is ``exp(sum of token NLL / number of predicted tokens)`` over a held-out text
file, one text per line, read in order until ``max_tokens`` targets. Format ``plain`` feeds the
text tokens alone (the base LLM's native format; the first token of each line is context only),
``boundary`` frames each line as ``<text_start> tokens <text_end>`` like the text-LM task.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import torch

from espnet_codec_lm.lm.vocab import IGNORE_ID, STREAM_PAD
from espnet_codec_lm.train.distributed import DistEnv, autocast
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
    fmt: str = "plain",
    text_start: int | None = None,
    text_end: int | None = None,
    rank: int = 0,
    world_size: int = 1,
) -> tuple[list[dict], int]:
    """Batches of held-out text for this rank, and the number of scored tokens (all ranks)."""
    rows: list[list[int]] = []
    total = 0
    for line in lines:
        ids = list(encode(line))
        if fmt == "boundary":
            if text_start is None or text_end is None:
                raise ValueError("text_ppl_format=boundary needs the text boundary ids")
            ids = [text_start, *ids, text_end]
        ids = ids[:max_len]
        if len(ids) < 2:
            continue
        rows.append(ids)
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
            lab[b, : len(r) - 1, 0] = torch.tensor(r[1:])
        pos = torch.arange(T).expand(len(chunk), T).clone()
        task = torch.zeros(len(chunk), T, dtype=torch.long)
        batches.append({"input_ids": inp, "labels": lab, "position_ids": pos, "task_ids": task})
    return batches, total


def text_perplexity(
    model: torch.nn.Module, batches: list[dict], num_heads: int, env: DistEnv
) -> tuple[float, int]:
    """``(perplexity, tokens)`` of the text-head predictions on ``batches`` over all ranks."""
    stats = evaluate_loss(model, batches, ["text"], num_heads, env)
    return stats.text_ppl(), int(stats.head_count[0].item())
