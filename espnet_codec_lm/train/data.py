"""What the trainer needs from a data pipeline, and a synthetic pipeline that provides it.

A training source hands each rank its micro-batches, one call at a time, forever (epochs roll
over inside it), and can save/restore its position as JSON. A micro-batch is a dict of tensors::

    input_ids     int64 [B, T, L']   vocabulary ids; STREAM_PAD (-1) in unused streams
    labels        int64 [B, T, L']   next-position targets; IGNORE_ID (-100) where not trained
    position_ids  int64 [B, T]       restart at 0 at each packed example
    task_ids      int64 [B, T]       index into ``task_names``; -1 on padding

Sharding rule (what makes "1 process x k accumulation steps == k processes x 1 step" exact):
the source numbers micro-batches globally and rank ``r`` of ``W`` takes indices ``r, r+W, ...``;
optimiser step ``s`` then consumes global micro-batches ``[s*W*A, (s+1)*W*A)`` whatever ``W``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

import numpy as np
import torch

from espnet_codec_lm.lm.labels import shift_labels
from espnet_codec_lm.lm.vocab import STREAM_PAD, VocabLayout


class TrainSource(Protocol):
    """The training-data interface (see the module docstring)."""

    task_names: list[str]

    def next_batch(self) -> dict[str, torch.Tensor]: ...

    @property
    def epoch(self) -> float:
        """Passes over the data so far (fractional), for the ``max_epochs`` stopping rule."""
        ...

    def micro_batches_per_epoch(self) -> int | None:
        """Micro-batches per rank per epoch, or None when unknown."""
        ...

    def state_dict(self) -> dict: ...

    def load_state_dict(self, state: dict) -> None: ...


class ValidSource(Protocol):
    """A finite, re-iterable set of micro-batches for this rank."""

    task_names: list[str]

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]: ...


class SyntheticSource:
    """Random packed rows with learnable structure, for tests and the throughput benchmark.

    Each row packs examples of random length. A text example is a run of consecutive text ids in
    stream 0; a speech example a run of frames whose codebook-k code counts up from a random
    start, in codebook k's id range of ``layout``. A small model's loss therefore falls quickly.
    Micro-batch ``i`` is a pure function of ``(seed, i)``: the position is one integer and
    resuming is exact.
    """

    TASKS = ("speech_continuation", "text_lm", "asr")

    def __init__(
        self,
        layout: VocabLayout,
        micro_batch: int,
        max_len: int,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        epoch_size: int = 64,
        min_example: int = 8,
        max_example: int = 64,
    ) -> None:
        self.layout = layout
        self.micro_batch, self.max_len = micro_batch, max_len
        self.seed, self.rank, self.world_size = seed, rank, world_size
        self.epoch_size = epoch_size  # global micro-batches per epoch
        self.min_example, self.max_example = max(2, min_example), max(2, min_example, max_example)
        self.task_names = list(self.TASKS)
        self.index = rank  # next global micro-batch index for this rank

    # --- TrainSource ----------------------------------------------------------------------
    def next_batch(self) -> dict[str, torch.Tensor]:
        batch = self.make(self.index)
        self.index += self.world_size
        return batch

    @property
    def epoch(self) -> float:
        return (self.index - self.rank) / self.epoch_size

    def micro_batches_per_epoch(self) -> int:
        return self.epoch_size // self.world_size

    def state_dict(self) -> dict:
        return {"index": self.index, "seed": self.seed}

    def load_state_dict(self, state: dict) -> None:
        if state.get("seed") != self.seed:
            raise ValueError(f"data state is for seed {state.get('seed')}, not {self.seed}")
        self.index = int(state["index"])

    # --- construction ---------------------------------------------------------------------
    def make(self, index: int) -> dict[str, torch.Tensor]:
        """Global micro-batch ``index`` (independent of rank and history)."""
        rng = np.random.default_rng([self.seed, index])
        lay = self.layout
        B, T, L = self.micro_batch, self.max_len, lay.num_streams
        ids = np.full((B, T, L), STREAM_PAD, dtype=np.int64)
        ids[:, :, 0] = 0  # padding positions: text id 0, no label
        loss_mask = np.zeros((B, T), dtype=bool)
        pos = np.zeros((B, T), dtype=np.int64)
        task = np.full((B, T), -1, dtype=np.int64)
        for b in range(B):
            t = 0
            while T - t >= 2:
                n = int(min(rng.integers(self.min_example, self.max_example + 1), T - t))
                k = int(rng.integers(len(self.task_names)))
                steps = np.arange(n)
                if self.task_names[k] == "text_lm":
                    start = int(rng.integers(lay.text_vocab_size))
                    ids[b, t : t + n, 0] = (start + steps) % lay.text_vocab_size
                else:
                    start = rng.integers(lay.codebook_size, size=L)
                    codes = (start[None, :] + steps[:, None]) % lay.codebook_size
                    ids[b, t : t + n] = lay.codes_to_ids(codes)
                loss_mask[b, t : t + n] = True
                pos[b, t : t + n] = steps
                task[b, t : t + n] = k
                t += n
        labels = shift_labels(ids, loss_mask, pos)
        return {
            "input_ids": torch.from_numpy(ids),
            "labels": labels,
            "position_ids": torch.from_numpy(pos),
            "task_ids": torch.from_numpy(task),
        }


class SyntheticValid:
    """A fixed set of synthetic micro-batches (indices far from the training stream)."""

    def __init__(self, source: SyntheticSource, num_batches: int = 4) -> None:
        self.source, self.num_batches = source, num_batches
        self.task_names = source.task_names

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        s = self.source
        for i in range(s.rank, self.num_batches, s.world_size):
            yield s.make(10**9 + i)
