"""Packing built examples into fixed-length rows, and collating rows into tensors.

Rows are filled best-fit, in the (random) order the examples were drawn: each example goes to
the open row with the least room left that still holds it (ties: the oldest), or opens a new
row. Unlike sorting by length first, this keeps rows from being made of one kind of example (e.g.
all long TTS sequences), and it still packs 95-99 % full when examples are short next to the row
(doc/tasks.md has the numbers; best-fit beat first-fit by up to 0.7 points on the mini corpus).

No attention crosses examples: each example's ``position_ids`` restart at 0, which is what
``transformers``' Qwen2 uses to find packed sequences (flash-attention varlen), and what our model
turns into a block-diagonal mask for the SDPA / eager paths; padding at the end of a row is one
more "example" with its own positions, ``IGNORE_ID`` labels and task id -1.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

import numpy as np

from espnet_codec_lm.lm.vocab import IGNORE_ID, STREAM_PAD
from espnet_codec_lm.tasks.sequence import Example, make_labels


def best_fit(lengths: Sequence[int], max_len: int) -> list[list[int]]:
    """Item indices per row, rows in the order they were opened. Every length must be
    ``<= max_len``. A row is closed (left out of the search) once even the shortest item of
    all cannot fit into it any more."""
    lengths = np.asarray(lengths, dtype=np.int64)
    if len(lengths) and lengths.max() > max_len:
        raise ValueError(f"an item of length {lengths.max()} exceeds max_len {max_len}")
    rows: list[list[int]] = []
    open_rows = np.zeros(0, dtype=np.int64)  # row ids, oldest first
    room = np.zeros(0, dtype=np.int64)
    shortest = int(lengths.min()) if len(lengths) else 0
    for i, n in enumerate(lengths.tolist()):
        fits = np.flatnonzero(room >= n)
        if len(fits):
            k = int(fits[np.argmin(room[fits])])  # argmin: the first (oldest) of ties
            rows[int(open_rows[k])].append(i)
            room[k] -= n
        else:
            rows.append([i])
            open_rows = np.append(open_rows, len(rows) - 1)
            room = np.append(room, max_len - n)
        keep = room >= shortest
        if not keep.all():
            open_rows, room = open_rows[keep], room[keep]
    return rows


def pack_row(
    examples: Sequence[Example],
    task_ids: Sequence[int],
    length: int,
    weighting: str = "token",
    align_tasks: Collection[str] = (),
) -> dict:
    """One row of ``length`` positions: tokens / labels ``[length, L']``, position and task ids.

    ``align_tasks``: for each example of these tasks, ``align`` int64 ``[n, 4]`` gets one row
    ``(text_lo, text_hi, speech_lo, speech_hi)`` (row positions, see :func:`alignment_span`), the
    spans the trainer's guided attention aligns.

    ``weighting="example"`` adds ``loss_weights`` float32 ``[length]``: ``1 / (targets of its
    example)`` at every position of an example (all streams of a position share it), so that
    each example's targets weigh 1 in all, whatever their number (a 10-token transcript as much
    as 450 codec targets of a TTS example). ``"token"``: no weights (every target weighs 1)."""
    if weighting not in ("token", "example"):
        raise ValueError(f"loss weighting must be token or example, got {weighting!r}")
    L = examples[0].tokens.shape[1] if examples else 1
    tokens = np.full((length, L), STREAM_PAD, dtype=np.int64)
    mask = np.zeros(length, dtype=bool)
    position_ids = np.empty(length, dtype=np.int64)
    tasks = np.full(length, -1, dtype=np.int64)
    pos = 0
    aligned: list[list[int]] = []
    for ex, tid in zip(examples, task_ids):
        n = len(ex)
        if pos + n > length:
            raise ValueError(f"examples of total length > {length} do not fit one row")
        if ex.loss_mask[0]:  # never true for a built example; it would leak across examples
            raise ValueError(f"example {ex.uttid}: its first position cannot be a target")
        tokens[pos : pos + n] = ex.tokens
        mask[pos : pos + n] = ex.loss_mask
        position_ids[pos : pos + n] = np.arange(n)
        tasks[pos : pos + n] = tid
        if ex.task in align_tasks:
            span = alignment_span(ex)
            if span is not None:
                aligned.append([pos + i for i in span])
        pos += n
    position_ids[pos:] = np.arange(length - pos)
    # one shift for the whole row: no example's first position is a target, so no label of
    # one example ever points into the next
    labels = make_labels(tokens, mask)
    row = {
        "input_ids": tokens,
        "labels": labels,
        "position_ids": position_ids,
        "task_ids": tasks,
        "num_real": pos,
    }
    if align_tasks:
        row["align"] = np.asarray(aligned, dtype=np.int64).reshape(-1, 4)
    if weighting == "example":
        per_pos = (labels != IGNORE_ID).sum(-1)
        weights = np.zeros(length, dtype=np.float32)
        start = 0
        for ex in examples:  # an example's labels lie within its own positions
            end = start + len(ex)
            n = int(per_pos[start:end].sum())
            if n:
                weights[start:end] = 1.0 / n
            start = end
        row["loss_weights"] = weights
    return row


def alignment_span(ex: Example) -> tuple[int, int, int, int] | None:
    """``(text_lo, text_hi, speech_lo, speech_hi)`` of an example whose target is speech read from
    one text condition (TTS: the transcript; T2ST: the translation), in example positions:
    ``[text_lo, text_hi)`` the text's tokens (no boundaries); ``[speech_lo, speech_hi)`` the
    positions whose outputs predict the speech target's codes and its end token (the target's
    start boundary up to its last code). None for any other example (S2ST, text targets)."""
    target = ex.spans[-1]
    texts = [sp for sp in ex.spans[:-1] if sp.role == "condition" and sp.modality == "text"]
    if target.role != "target" or target.modality != "speech" or len(texts) != 1:
        return None
    text = texts[0]
    if text.end - text.start <= 2 or target.end - target.start <= 2:
        return None  # an empty text or speech: nothing to align
    return text.start + 1, text.end - 1, target.start, target.end - 1


def noise_speech_inputs(
    row: dict,
    examples: Sequence[Example],
    prob: float,
    rng: np.random.Generator,
    code_ranges: Sequence[tuple[int, int]],
) -> int:
    """Replace, in place, each *input* position of a speech target of ``row`` (the codes between
    its boundary tokens) with probability ``prob`` by random codes (stream k: a code of codebook
    k+1, ``code_ranges[k]``). Labels are left as they are, so the model still predicts the real
    next frame, but from a history it cannot trust: it must read the condition (the text of TTS,
    the source speech of S2ST) instead of continuing the speech it has. Returns the number of
    positions replaced."""
    if prob <= 0.0:
        return 0
    tokens = row["input_ids"]
    n_streams = tokens.shape[1]
    replaced, start = 0, 0
    for ex in examples:
        target = ex.spans[-1]
        if target.modality == "speech":
            lo, hi = start + target.start + 1, start + target.end - 1  # codes, not boundaries
            hit = np.nonzero(rng.random(hi - lo) < prob)[0] + lo
            for k in range(n_streams):
                a, b = code_ranges[k]
                tokens[hit, k] = rng.integers(a, b, size=len(hit))
            replaced += len(hit)
        start += len(ex)
    return replaced


def collate(rows: Sequence[dict]) -> dict:
    """Stack packed rows (all of one length) into the batch dict the trainer consumes."""
    import torch

    out = {}
    for key in ("input_ids", "labels", "position_ids", "task_ids", "loss_weights"):
        if key in rows[0]:
            out[key] = torch.from_numpy(np.stack([r[key] for r in rows]))
    if "align" in rows[0]:  # [N, 5]: (row, text_lo, text_hi, speech_lo, speech_hi)
        spans = [
            np.concatenate([np.full((len(r["align"]), 1), i), r["align"]], axis=1)
            for i, r in enumerate(rows)
        ]
        out["align_spans"] = torch.from_numpy(np.concatenate(spans).astype(np.int64))
    return out


def efficiency(lengths: Sequence[int], n_rows: int, max_len: int) -> float:
    """Non-pad positions / all positions of ``n_rows`` rows of ``max_len``."""
    return float(np.sum(lengths)) / float(n_rows * max_len) if n_rows else 0.0
