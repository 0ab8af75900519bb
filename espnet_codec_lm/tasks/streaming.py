"""The streaming CPT source (``data.kind: shards``): speech read from WebDataset shards a window
at a time, so that a rank's memory is one window of utterances, not the corpus.

- **Shards** (``tasks/shards.py``, written by ``bin/make_shards``): each manifest lists its tars
  and their utterance counts. Text and MT pools stay in memory (they are small).
- **Epoch order.** Epoch ``e`` permutes all shards with ``(seed, e)``; rank ``r`` of ``W`` takes
  every ``W``-th shard of that order from position ``r`` (disjoint shares, a whole number of
  shards each).
- **Windows** (the shuffle buffer). A rank's shards of the epoch are cut, in order, into windows
  of whole shards holding at most ``shuffle_buffer`` utterances (at least one shard; a last window
  under half the buffer joins the one before). Only the current window's utterances are in memory.
- **Examples and batches** come from the in-memory pipeline itself: a window is a
  :class:`~espnet_codec_lm.tasks.dataset.TaskDataset` over its utterances (plus the text pools),
  one draw per utterance (mixture task, then an utterance uniformly from that task's eligible
  pool of the window), built, packed best-fit and collated exactly as ``data.kind: tasks`` does,
  seeded by ``(seed, epoch, rank, window)``. Trailing rows of a window that do not fill a batch
  are dropped (as at the end of an in-memory epoch).
- **Resume.** The state is ``{epoch, window, batch}`` plus the numbers it depends on (seed,
  global rows, world size, shard count); loading it re-reads that window's shards and continues
  at that batch: the batches equal the uninterrupted run's.

``micro_batches_per_epoch()`` is None (counting them would mean building every window), so
``stop.max_epochs`` cannot be used; ``epoch`` is the fraction of the rank's utterances passed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np

from espnet_codec_lm.config import config_from_dict
from espnet_codec_lm.data.hooks import load_punctuator, load_translator
from espnet_codec_lm.lm.vocab import VocabLayout
from espnet_codec_lm.tasks.corpus import Corpus, finish_speech_samples
from espnet_codec_lm.tasks.dataset import (
    _POOL_OF,
    DataConfig,
    TaskDataset,
    TaskValidSource,
    check_cpt_sources,
    cpt_mixture,
    load_corpora,
    valid_source,
)
from espnet_codec_lm.tasks.mixture import MixtureConfig, TaskSampler
from espnet_codec_lm.tasks.prompts import PromptBank, TokenizedPrompts
from espnet_codec_lm.tasks.sequence import SequenceBuilder
from espnet_codec_lm.tasks.shards import (
    MANIFEST,
    Manifest,
    ShardInfo,
    default_shard_dir,
    read_manifest,
    read_shard,
)
from espnet_codec_lm.tasks.templates import TASK_NAMES, get_template

log = logging.getLogger("tasks")


@dataclass
class StreamDataConfig(DataConfig):
    """``data.kind: shards``: the CPT pipeline of :class:`DataConfig` with its speech read from
    shards. ``shards``: manifest paths (or shard directories); empty: the shards of each
    ``speech_sets`` entry in ``make_shards``' default place, ``<dir of its codes>/shards``."""

    kind: Literal["shards"] = "shards"
    shards: list[str] = field(default_factory=list)
    shuffle_buffer: int = 10000  # utterances in memory per rank (a window of whole shards)


def check_stream_config(cfg: StreamDataConfig, stage: str | None = None) -> None:
    """What the streaming source cannot do, as one-line errors (also run at config load, where
    ``stage`` is the trainer's)."""
    if (stage or cfg.stage) != "cpt":
        raise ValueError("data.kind shards is for CPT; SFT reads its sets with data.kind tasks")
    if cfg.examples_per_epoch:
        raise ValueError("data.examples_per_epoch: with data.kind shards an epoch is one pass")
    if cfg.shuffle_buffer < 1:
        raise ValueError(f"data.shuffle_buffer must be >= 1, got {cfg.shuffle_buffer}")


def manifest_paths(cfg: StreamDataConfig) -> list[tuple[str, bool]]:
    """``(manifest, punctuate)`` for each set the config names."""
    if cfg.shards:
        return [(p, False) for p in cfg.shards]
    return [(str(default_shard_dir(s.codes) / MANIFEST), s.punctuate) for s in cfg.speech_sets]


class StreamingTaskSource:
    """The trainer's ``TrainSource`` over shards, for one rank (see the module docstring)."""

    def __init__(
        self,
        cfg: StreamDataConfig,
        layout: VocabLayout,
        tokenizer,
        rank: int = 0,
        world_size: int = 1,
        bank: PromptBank | None = None,
    ) -> None:
        check_stream_config(cfg)
        if not cfg.shards and not cfg.speech_sets:
            raise ValueError("data.kind shards needs data.shards (manifests) or data.speech_sets")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} outside world size {world_size}")
        self.cfg, self.layout, self.tokenizer = cfg, layout, tokenizer
        self.rank, self.world_size = rank, world_size
        self.rows_per_batch = cfg.rows_per_batch()
        self.task_names = list(TASK_NAMES)
        self.manifests: list[Manifest] = []
        for path, punct in manifest_paths(cfg):
            try:
                m = read_manifest(path)
            except ValueError as e:
                hint = "" if cfg.shards else " (python -m espnet_codec_lm.bin.make_shards)"
                raise ValueError(f"{e}{hint}") from None
            self.manifests.append(replace(m, punctuate=m.punctuate or punct))
        self.shards: list[tuple[ShardInfo, bool]] = [
            (s, m.punctuate) for m in self.manifests for s in m.shards
        ]
        if len(self.shards) < world_size:
            raise ValueError(
                f"data.shards: {len(self.shards)} shards cannot be split over {world_size} ranks "
                "(write more shards: make_shards --num_shards)"
            )
        self.bank = bank or PromptBank.load(cfg.prompt_dir)
        prompts = TokenizedPrompts(self.bank, tokenizer)
        self.builder = SequenceBuilder(layout, tokenizer, prompts, cfg.stage, cfg.build)
        self.punctuate = load_punctuator(cfg.punctuation)
        self.translate = load_translator(cfg.translation)
        hooks = (self.punctuate, self.translate)
        self.pools = load_corpora(replace(cfg, speech_sets=[]), layout, tokenizer, hooks)
        mixture, self.dropped = cpt_mixture(cfg)
        wanted = {t for t, p in mixture.items() if p > 0}
        available = {t for t in wanted if self._has_data(t)}
        check_cpt_sources(wanted, available)
        self.sampler = TaskSampler(mixture, available)
        # the windows' config: this mixture (drops applied), one draw per utterance, this rank's
        # rows; each window's seed is derived below
        self._wcfg = replace(
            cfg, cpt_mode="speech_text", mixture=MixtureConfig(**mixture), drop_tasks=[],
            examples_per_epoch=0, batch_size=self.rows_per_batch, batch_positions=0,
        )  # fmt: skip
        self._epoch, self._window, self._batch = 0, 0, 0  # position of the next batch
        self._windows: tuple[int, list[list[int]]] | None = None  # (epoch, windows)
        self._ds: tuple[tuple[int, int], TaskDataset] | None = None  # ((epoch, window), dataset)

    def _has_data(self, task: str) -> bool:
        """Whether some utterance (manifest counts) or pool item can serve ``task``."""
        pool = _POOL_OF.get(task)
        if pool is not None:
            corpus = self.pools.get(pool)
            return corpus is not None and len(corpus.eligible(get_template(task).requires)) > 0
        need = [r for r in get_template(task).requires if r != "codes"]
        if self.cfg.translation.kind != "identity" and "translation" in need:
            need[need.index("translation")] = "text"  # the hook translates transcripts
        return any(all(s.counts.get(r, 0) for r in need) for s, _ in self.shards)

    def mixture_summary(self) -> dict:
        return {"shares": {t: round(p, 4) for t, p in self.sampler.shares().items()},
                "dropped": list(self.dropped)}  # fmt: skip

    # --- epochs and windows --------------------------------------------------------------------
    def windows(self, epoch: int) -> list[list[int]]:
        """This rank's shards of ``epoch`` (indices into ``self.shards``), cut into windows."""
        if self._windows is not None and self._windows[0] == epoch:
            return self._windows[1]
        order = np.random.default_rng([self.cfg.seed, epoch, 2**31 + 1]).permutation(
            len(self.shards)
        )
        mine = [int(i) for i in order[self.rank :: self.world_size]]
        cap = self.cfg.shuffle_buffer
        out: list[list[int]] = []
        held = 0
        for i in mine:
            n = self.shards[i][0].utterances
            if not out or held + n > cap:
                out.append([])
                held = 0
            out[-1].append(i)
            held += n
        if len(out) > 1 and held < cap / 2:  # a small last window joins the one before
            out[-2].extend(out.pop())
        self._windows = (epoch, out)
        return out

    def _utterances(self, shards: list[int]) -> int:
        return sum(self.shards[i][0].utterances for i in shards)

    def window_dataset(self, epoch: int, w: int) -> TaskDataset:
        """The dataset of window ``w`` of ``epoch`` (its shards read now; the one before freed)."""
        if self._ds is not None and self._ds[0] == (epoch, w):
            return self._ds[1]
        self._ds = None  # free the previous window before reading the next
        shards = self.windows(epoch)[w]
        samples = []
        for i in shards:
            info, punct = self.shards[i]
            group = read_shard(info, self.layout)
            finish_speech_samples(
                group, self.tokenizer, self.punctuate if punct else None, self.translate
            )
            samples.extend(group)
        seed = int(
            np.random.SeedSequence([self.cfg.seed, epoch, self.rank, w]).generate_state(1)[0]
        )
        cfg = replace(self._wcfg, seed=seed)
        corpora = {**self.pools, "speech": Corpus(samples, "speech")}
        try:
            ds = TaskDataset(
                cfg, self.layout, self.tokenizer, corpora=corpora, require_all_tasks=False,
                builder=self.builder,
            )  # fmt: skip
            ds.plan(0)
        except ValueError as e:
            names = ", ".join(self.shards[i][0].path.name for i in shards)
            raise ValueError(
                f"rank {self.rank}, epoch {epoch}, window {w} (shards {names}): {e}; "
                "raise data.shuffle_buffer"
            ) from None
        self._ds = ((epoch, w), ds)
        return ds

    # --- the trainer's TrainSource interface ---------------------------------------------------
    def next_batch(self) -> dict:
        """The next batch of this rank; windows and epochs roll over."""
        while True:
            ds = self.window_dataset(self._epoch, self._window)
            if self._batch < ds.num_batches(0):
                break
            self._window, self._batch = self._window + 1, 0
            if self._window >= len(self.windows(self._epoch)):
                self._epoch, self._window = self._epoch + 1, 0
        batch = ds.get_batch(0, self._batch)
        self._batch += 1
        return batch

    @property
    def epoch(self) -> float:
        """Passes so far, fractional: the share of this rank's utterances of the epoch passed."""
        windows = self.windows(self._epoch)
        total = sum(self._utterances(w) for w in windows)
        done = sum(self._utterances(w) for w in windows[: self._window])
        if self._ds is not None and self._ds[0] == (self._epoch, self._window):
            n = self._utterances(windows[self._window])
            done += n * self._batch / max(self._ds[1].num_batches(0), 1)
        return self._epoch + done / max(total, 1)

    def micro_batches_per_epoch(self) -> None:
        """Unknown without building every window."""
        return None

    def state_dict(self) -> dict:
        return {
            "epoch": self._epoch,
            "window": self._window,
            "batch": self._batch,
            "seed": self.cfg.seed,
            "global_rows": self.rows_per_batch * self.world_size,
            "world_size": self.world_size,
            "shards": len(self.shards),
            "shuffle_buffer": self.cfg.shuffle_buffer,
        }

    def load_state_dict(self, state: dict) -> None:
        """Continue at the saved position; what the windows depend on must match."""
        mine = {k: v for k, v in self.state_dict().items() if k not in ("epoch", "window", "batch")}
        for key, value in mine.items():
            if key not in state or int(state[key]) != value:
                raise ValueError(f"data state: {key} was {state.get(key)}, this run has {value}")
        self._epoch, self._window, self._batch = (
            int(state["epoch"]), int(state["window"]), int(state["batch"]),
        )  # fmt: skip


def build_stream_sources(
    data: dict,
    layout: VocabLayout,
    tokenizer,
    rank: int = 0,
    world_size: int = 1,
    **trainer_fields,
) -> tuple[StreamingTaskSource, TaskValidSource | None]:
    """``(train, valid)`` for ``data.kind: shards``: the streaming source, and the in-memory
    validation source of the ``valid_*`` sets (as :func:`~espnet_codec_lm.tasks.dataset.
    build_sources` makes it)."""
    cfg = replace(config_from_dict(StreamDataConfig, data, "data"), **trainer_fields)
    train = StreamingTaskSource(cfg, layout, tokenizer, rank, world_size)
    return train, valid_source(cfg, layout, tokenizer, rank, world_size, train.bank)
