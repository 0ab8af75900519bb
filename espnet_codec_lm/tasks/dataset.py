"""The data pipeline the trainer consumes: built, packed, collated batches, exactly resumable.

Everything is a pure function of ``(seed, epoch, index)``:

- An epoch is a list of *draws*. CPT: ``examples_per_epoch`` independent draws (default: one per
  speech utterance), each picking a task from the mixture and an utterance uniformly from that
  task's eligible pool. SFT: every (task, eligible utterance) pair once, in an order permuted by
  ``(seed, epoch)``.
- Draw ``j`` of epoch ``e`` is built with ``np.random.default_rng([seed, e, j])`` (task, utterance,
  prompt, speaker-prompt slice, masks...), so it can be rebuilt at will, in any process.
- The epoch's examples are packed best-fit into rows of ``max_len`` (see ``packing``).
- Step ``b`` of the epoch uses rows ``[b * G, (b + 1) * G)`` where ``G = batch_size x world_size``;
  rank ``r`` takes rows ``b * G + r * batch_size ...`` (disjoint shares). The union over ranks is
  the single-process batch with ``batch_size x world_size`` rows, so a 2-rank run sees the same
  data as a 1-rank run with the same global batch. Trailing rows that do not fill a step are
  dropped (counted in the epoch's stats).

Resuming: :meth:`TaskDataset.state_dict` is ``{epoch, batch}`` (plus the numbers it was made
with, checked on load); :meth:`TaskDataset.get_batch` returns any batch directly.

Batch dict (torch tensors, ``B`` rows of ``T`` positions, ``T = max_len`` when packing):

- ``input_ids`` int64 ``[B, T, L']``: vocabulary ids, ``STREAM_PAD`` (-1) on unused streams and on
  padding (and on ASR-SFT masked frames with ``time_mask.fill: pad``);
- ``labels`` int64 ``[B, T, L']``: already shifted: ``labels[t] = input_ids[t + 1]`` where
  position ``t + 1`` is a training target of the same example, else ``IGNORE_ID`` (-100). The
  model must *not* shift again;
- ``position_ids`` int64 ``[B, T]``: restart at 0 at every example (and at the row's padding);
- ``task_ids`` int64 ``[B, T]``: index into :data:`TASK_NAMES` of the example a position belongs
  to, -1 on padding (for per-task loss logging: the loss at ``t`` belongs to ``task_ids[t]``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np

from espnet_codec_lm.config import config_from_dict
from espnet_codec_lm.data.hooks import HookConfig, load_punctuator, load_translator
from espnet_codec_lm.lm.vocab import VocabLayout
from espnet_codec_lm.tasks.corpus import (
    Corpus,
    LazyCodes,
    SpeechSetConfig,
    load_speech_set,
    load_text_pool,
    merge,
)
from espnet_codec_lm.tasks.mixture import MixtureConfig, TaskSampler
from espnet_codec_lm.tasks.packing import (
    best_fit,
    collate,
    efficiency,
    noise_speech_inputs,
    pack_row,
)
from espnet_codec_lm.tasks.prompts import PromptBank, TokenizedPrompts
from espnet_codec_lm.tasks.sequence import BuildConfig, Example, Sample, SequenceBuilder
from espnet_codec_lm.tasks.templates import TASK_NAMES, get_template

log = logging.getLogger("tasks")

#: which corpus each task draws from
_POOL_OF = {"text": "text", "mt": "mt"}


@dataclass
class DataConfig:
    """Everything the task data pipeline needs (one section of the trainer's YAML)."""

    kind: Literal["tasks"] = "tasks"  # how the trainer's ``data:`` section names this pipeline
    stage: Literal["cpt", "sft"] = "cpt"
    cpt_mode: Literal["speech_text", "speech"] = "speech_text"  # speech: speech_lm only (Eq. 3)
    tasks: list[str] = field(default_factory=list)  # SFT: the tasks to train (e.g. [asr])
    # SFT: how many times each (task, utterance) pair is drawn per epoch (default 1 each), e.g.
    # {asr: 3, s2tt: 2} so that understanding tasks get enough passes in a joint fine-tuning
    task_repeats: dict[str, int] = field(default_factory=dict)
    langs: list[str] = field(default_factory=list)  # keep only utterances in these languages
    speech_sets: list[SpeechSetConfig] = field(default_factory=list)
    text_pools: list[str] = field(default_factory=list)  # general text: Kaldi text files / dirs
    mt_pools: list[str] = field(default_factory=list)  # MT pairs: dirs with text, text.<lang>
    mixture: MixtureConfig = field(default_factory=MixtureConfig)
    # CPT: sources left out of the mixture on purpose (probability set to 0). Any other source
    # with a probability > 0 but no data (e.g. S2TT / T2ST without translations, text / MT
    # without pools) stops the run at start: the mix would no longer be the paper's. The dropped
    # ones are written to the experiment's system.yaml and RESULTS.md (bin/report).
    drop_tasks: list[str] = field(default_factory=list)
    build: BuildConfig = field(default_factory=BuildConfig)
    prompt_dir: str | None = None  # another prompt bank directory (default: the packaged one)
    punctuation: HookConfig = field(default_factory=HookConfig)
    translation: HookConfig = field(default_factory=HookConfig)
    # token: every target token weighs the same (a TTS example's ~450 codec targets outweigh a
    # transcript's ~10 tokens ~45 to 1); example: every example's targets weigh 1 in all
    loss_weighting: Literal["token", "example"] = "token"
    # training only: each input code of a speech target is replaced by a random code with this
    # probability (labels untouched; tasks/packing.py noise_speech_inputs). 0 = the paper. At toy
    # scale the model otherwise learns to continue speech and ignores the text (doc/mini_recipe.md)
    speech_target_noise: float = 0.0
    # set by the trainer from its guided_attention section (not in a data section): tasks whose
    # examples carry their text -> speech spans in the batch (tasks/packing.py alignment_span)
    align_tasks: list[str] = field(default_factory=list)
    max_len: int = 4096  # positions per packed row
    pack: bool = True  # false: one example per row, padded to the batch's longest
    batch_size: int = 8  # rows per rank per step (ignored when batch_positions > 0)
    batch_positions: int = 0  # > 0: rows per rank = batch_positions // max_len
    seed: int = 0
    examples_per_epoch: int = 0  # CPT draws per epoch; 0: number of speech utterances
    # false: each utterance's codes stay in their ark until a sequence is built from them
    # (tasks/corpus.py LazyCodes; for corpora whose codes do not fit in memory)
    codes_in_memory: bool = True
    # keep the epoch's built examples in memory (planning builds them anyway); false: rebuild
    # each from its draw when its batch is made (slower, for epochs too big for memory; with
    # codes_in_memory false, planning then reads no codes: lengths come from the frame counts)
    cache_examples: bool = True
    valid_speech_sets: list[SpeechSetConfig] = field(default_factory=list)  # validation data
    valid_text_pools: list[str] = field(default_factory=list)
    valid_mt_pools: list[str] = field(default_factory=list)
    valid_batches: int = 8  # global validation micro-batches (first ones of epoch 0)

    def rows_per_batch(self) -> int:
        if self.batch_positions > 0:
            if not self.pack or self.batch_positions % self.max_len:
                raise ValueError("batch_positions needs pack: true and a multiple of max_len")
            return self.batch_positions // self.max_len
        return self.batch_size


@dataclass
class EpochPlan:
    """The examples of one epoch (as draw/piece references), their rows and statistics."""

    epoch: int
    draw: np.ndarray  # per item: draw index j
    piece: np.ndarray  # per item: piece index within the draw
    length: np.ndarray  # per item: positions
    task: np.ndarray  # per item: task id
    rows: list[list[int]]  # item indices per row
    stats: dict
    examples: list[Example] | None = None  # the built examples (cache_examples: true)


class TaskDataset:
    """Iterator over collated batches for one rank; see the module docstring."""

    def __init__(
        self,
        cfg: DataConfig,
        layout: VocabLayout,
        tokenizer,
        rank: int = 0,
        world_size: int = 1,
        corpora: dict[str, Corpus] | None = None,
        bank: PromptBank | None = None,
        require_all_tasks: bool = True,
        builder: SequenceBuilder | None = None,
    ) -> None:
        """``require_all_tasks``: a CPT source with a probability > 0 and no data is an error
        (False for validation sets, which need not hold every source). ``builder``: a
        :class:`SequenceBuilder` of the same stage and build config to share (the streaming
        source makes one dataset per window of shards)."""
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} outside world size {world_size}")
        self.cfg, self.layout, self.tokenizer = cfg, layout, tokenizer
        self.rank, self.world_size = rank, world_size
        self.rows_per_batch = cfg.rows_per_batch()
        if self.rows_per_batch < 1:
            raise ValueError("batch size must be at least one row")
        if builder is None:
            bank = bank or PromptBank.load(cfg.prompt_dir)
            prompts = TokenizedPrompts(bank, tokenizer)
            builder = SequenceBuilder(layout, tokenizer, prompts, cfg.stage, cfg.build)
        self.builder = builder
        self.corpora = corpora if corpora is not None else load_corpora(cfg, layout, tokenizer)
        self.dropped: list[str] = []
        self._setup_tasks(require_all_tasks)
        self.task_names = list(TASK_NAMES)
        self._epoch, self._batch = 0, 0  # position of the next batch
        self._plan: EpochPlan | None = None
        self._order_epoch, self._order = -1, np.zeros(0, np.int64)

    # --- task pools ---------------------------------------------------------------------------
    def _pool(self, task: str) -> tuple[Corpus, np.ndarray]:
        corpus = self.corpora.get(_POOL_OF.get(task, "speech"))
        if corpus is None:
            return Corpus([]), np.zeros(0, np.int64)
        idx = corpus.eligible(get_template(task).requires)
        if self.cfg.langs and task not in _POOL_OF:
            langs = np.asarray([corpus.samples[i].lang for i in idx])
            idx = idx[np.isin(langs, self.cfg.langs)] if len(idx) else idx
        return corpus, idx

    def mixture_summary(self) -> dict | None:
        """CPT: ``{"shares": {task: probability}, "dropped": [...]}`` as trained; None in SFT."""
        if self.sampler is None:
            return None
        return {"shares": {t: round(p, 4) for t, p in self.sampler.shares().items()},
                "dropped": list(self.dropped)}  # fmt: skip

    def _setup_tasks(self, require_all_tasks: bool = True) -> None:
        cfg = self.cfg
        if cfg.stage == "cpt":
            mixture, self.dropped = cpt_mixture(cfg)
            self.pools = {t: self._pool(t) for t in mixture if mixture[t] > 0}
            available = {t for t, (_, idx) in self.pools.items() if len(idx)}
            if require_all_tasks:
                check_cpt_sources(set(self.pools), available)
            if self.dropped:
                log.info("CPT mixture: left out on purpose (data.drop_tasks): %s", self.dropped)
            self.sampler: TaskSampler | None = TaskSampler(mixture, available)
            n_speech = len(self.corpora.get("speech", Corpus([])))
            self.n_draws = cfg.examples_per_epoch or max(n_speech, 1)
        else:
            if not cfg.tasks:
                raise ValueError("SFT data config needs tasks: [...]")
            self.sampler = None
            self.pools = {t: self._pool(t) for t in cfg.tasks if get_template(t, "sft")}
            empty = [t for t, (_, idx) in self.pools.items() if not len(idx)]
            if empty:
                raise ValueError(f"SFT: no eligible utterances for task(s) {empty}")
            unknown = sorted(set(cfg.task_repeats) - set(cfg.tasks))
            if unknown:
                raise ValueError(f"task_repeats: {unknown} not among the SFT tasks {cfg.tasks}")
            bad = {t: n for t, n in cfg.task_repeats.items() if not isinstance(n, int) or n < 1}
            if bad:
                raise ValueError(f"task_repeats: counts must be integers >= 1, got {bad}")
            self._pairs = np.concatenate(
                [
                    np.tile(
                        np.stack([np.full(len(idx), TASK_NAMES.index(t)), idx], axis=1),
                        (cfg.task_repeats.get(t, 1), 1),
                    )
                    for t, (_, idx) in self.pools.items()
                ]
            )
            self.n_draws = len(self._pairs)

    # --- one draw -----------------------------------------------------------------------------
    def _rng(self, epoch: int, j: int) -> np.random.Generator:
        return np.random.default_rng([self.cfg.seed, epoch, j])

    def _sft_order(self, epoch: int) -> np.ndarray:
        """SFT: the permutation of (task, utterance) pairs for ``epoch`` (cached for one epoch)."""
        if self._order_epoch != epoch:
            rng = np.random.default_rng([self.cfg.seed, epoch, 2**31])
            self._order, self._order_epoch = rng.permutation(self.n_draws), epoch
        return self._order

    def draw(self, epoch: int, j: int, shape_only: bool = False) -> tuple[str, list[Example], str]:
        """Build draw ``j`` of ``epoch``: its task, its example pieces and a status.

        ``shape_only``: codes left on disk (:class:`LazyCodes`) are not read but stood in for by
        zeros of their shape. Every random choice depends on lengths only, so the examples have
        the lengths, tasks and pieces of the real build (what planning an epoch needs).
        """
        rng = self._rng(epoch, j)
        if self.sampler is not None:
            task = self.sampler.draw(rng)
            corpus, idx = self.pools[task]
            sample = corpus.samples[int(idx[int(rng.integers(len(idx)))])]
        else:
            tid, i = self._pairs[self._sft_order(epoch)[j]]
            task = TASK_NAMES[int(tid)]
            corpus = self.pools[task][0]
            sample = corpus.samples[int(i)]
        if shape_only:
            sample = _without_reads(sample)
        if self.sampler is None and get_template(task).uses_speaker_prompt:
            sample = self._with_other_speaker_prompt(corpus, int(i), sample, rng, shape_only)
            if sample is None:
                return task, [], "no_prompt"
        examples, status = self.builder.build_pieces(task, sample, rng, self.cfg.max_len)
        return task, examples, status

    def example(self, task: str, uttid: str | None = None, seed: int = 0) -> Example:
        """One example of ``task`` (from utterance ``uttid``, or one drawn with ``seed``), built
        exactly as training builds it (for inspection; ``bin/show_example``)."""
        corpus, idx = self.pools.get(task) or self._pool(task)
        if not len(idx):
            raise ValueError(f"no eligible data for task {task!r} in this config")
        rng = np.random.default_rng([seed, 7])
        if uttid is None:
            i = int(idx[int(rng.integers(len(idx)))])
        else:
            found = [int(k) for k in idx if corpus.samples[int(k)].uttid == uttid]
            if not found:
                raise ValueError(f"utterance {uttid} not found or not eligible for task {task}")
            i = found[0]
        sample = corpus.samples[i]
        if self.cfg.stage == "sft" and get_template(task).uses_speaker_prompt:
            sample = self._with_other_speaker_prompt(corpus, i, sample, rng)
            if sample is None:
                raise ValueError(f"utterance {uttid}: its speaker has no other utterance")
        return self.builder.build(task, sample, rng)

    def _with_other_speaker_prompt(
        self, corpus: Corpus, i: int, sample: Sample, rng, shape_only: bool = False
    ):
        """SFT TTS / T2ST: 3 s from another utterance of the same speaker (VALL-E style)."""
        others = corpus.speakers.get(sample.speaker) if sample.speaker is not None else None
        others = others[others != i] if others is not None else np.zeros(0, np.int64)
        if not len(others):
            return None
        other = corpus.samples[int(others[int(rng.integers(len(others)))])].codes
        if shape_only:
            other = _stand_in(other)
        n = int(round(self.cfg.build.sft_speaker_prompt_s * self.cfg.build.frame_rate))
        start = int(rng.integers(0, max(len(other) - n, 0) + 1))
        return Sample(**{**sample.__dict__, "speaker_prompt": other[start : start + n]})

    # --- epoch plan ---------------------------------------------------------------------------
    def plan(self, epoch: int) -> EpochPlan:
        """All examples of ``epoch`` and their rows (cached for the current epoch)."""
        if self._plan is not None and self._plan.epoch == epoch:
            return self._plan
        draws, pieces, lengths, tasks = [], [], [], []
        counts: dict[str, dict[str, int]] = {}
        built: list[Example] | None = [] if self.cfg.cache_examples else None
        for j in range(self.n_draws):
            # without the cache only lengths are kept: codes on disk are not read to plan
            task, examples, status = self.draw(epoch, j, shape_only=built is None)
            c = counts.setdefault(task, {"drawn": 0, "examples": 0, "split": 0, "dropped": 0})
            c["drawn"] += 1
            c["split"] += status == "split"
            c["dropped"] += status not in ("ok", "split")
            for p, ex in enumerate(examples):
                draws.append(j)
                pieces.append(p)
                lengths.append(len(ex))
                tasks.append(TASK_NAMES.index(task))
                c["examples"] += 1
                if built is not None:
                    built.append(ex)
        lengths_a = np.asarray(lengths, dtype=np.int64)
        if self.cfg.pack:
            rows = best_fit(lengths_a, self.cfg.max_len)
        else:
            rows = [[i] for i in range(len(lengths_a))]
        per_step = self.rows_per_batch * self.world_size
        n_batches = len(rows) // per_step
        used = rows[: n_batches * per_step]
        used_len = [int(lengths_a[r].sum()) for r in used]
        stats = {
            "epoch": epoch,
            "draws": self.n_draws,
            "examples": len(lengths_a),
            "rows": len(rows),
            "rows_dropped": len(rows) - len(used),
            "batches": n_batches,
            "positions": int(sum(used_len)),
            "packing_efficiency": efficiency(used_len, len(used), self.cfg.max_len)
            if self.cfg.pack
            else None,
            "tasks": counts,
        }
        self._plan = EpochPlan(
            epoch,
            np.asarray(draws, np.int64),
            np.asarray(pieces, np.int64),
            lengths_a,
            np.asarray(tasks, np.int64),
            rows,
            stats,
            built,
        )
        if n_batches == 0:
            raise ValueError(
                f"epoch {epoch}: {len(rows)} rows cannot fill one step of {per_step} rows "
                "(more data, a smaller batch or a smaller world size)"
            )
        return self._plan

    def num_batches(self, epoch: int | None = None) -> int:
        return self.plan(self._epoch if epoch is None else epoch).stats["batches"]

    # --- batches ------------------------------------------------------------------------------
    def rows_of(self, epoch: int, b: int) -> list[list[int]]:
        """Item indices of this rank's rows at step ``b`` of ``epoch``."""
        plan = self.plan(epoch)
        if not 0 <= b < plan.stats["batches"]:
            raise IndexError(f"epoch {epoch} has {plan.stats['batches']} batches, asked for {b}")
        start = (b * self.world_size + self.rank) * self.rows_per_batch
        return plan.rows[start : start + self.rows_per_batch]

    def examples_of_row(self, epoch: int, row: list[int]) -> list[tuple[int, Example]]:
        """(task id, example) for each item of a row, rebuilt from its draw."""
        plan = self.plan(epoch)
        if plan.examples is not None:
            return [(int(plan.task[i]), plan.examples[i]) for i in row]
        built: dict[int, list[Example]] = {}
        out = []
        for i in row:
            j = int(plan.draw[i])
            if j not in built:
                built[j] = self.draw(epoch, j)[1]
            out.append((int(plan.task[i]), built[j][int(plan.piece[i])]))
        return out

    def get_batch(self, epoch: int, b: int) -> dict:
        """This rank's batch ``b`` of ``epoch`` (a pure function of the seed)."""
        rows = [self.examples_of_row(epoch, r) for r in self.rows_of(epoch, b)]
        return self.collate_rows(rows, epoch, b)

    def collate_rows(self, rows: list[list[tuple[int, Example]]], epoch: int, b: int) -> dict:
        """The batch dict of batch ``b``'s rows of ``(task id, example)`` (packed, collated and,
        in training, with the speech-target noise of that batch)."""
        length = self.cfg.max_len if self.cfg.pack else max(sum(len(e) for _, e in r) for r in rows)
        w = self.cfg.loss_weighting
        align = self.cfg.align_tasks
        packed = [pack_row([e for _, e in r], [t for t, _ in r], length, w, align) for r in rows]
        if self.cfg.speech_target_noise > 0.0:
            ranges = [self.layout.codebook_range(k) for k in range(self.layout.num_streams)]
            rng = np.random.default_rng([self.cfg.seed, epoch, b, self.rank, 2**30])
            for row, r in zip(packed, rows):
                examples = [e for _, e in r]
                noise_speech_inputs(row, examples, self.cfg.speech_target_noise, rng, ranges)
        return collate(packed)

    # --- the trainer's TrainSource interface (espnet_codec_lm.train.data) ----------------------
    def next_batch(self) -> dict:
        """The next batch of this rank; epochs roll over."""
        while self._batch >= self.num_batches(self._epoch):
            self._epoch, self._batch = self._epoch + 1, 0
        batch = self.get_batch(self._epoch, self._batch)
        self._batch += 1
        return batch

    def __iter__(self) -> Iterator[dict]:
        """Batches from the current position on, epoch after epoch, forever."""
        while True:
            yield self.next_batch()

    @property
    def epoch(self) -> float:
        """Passes so far, fractional (for a ``max_epochs`` stopping rule)."""
        return self._epoch + self._batch / self.num_batches(self._epoch)

    def micro_batches_per_epoch(self) -> int:
        """Batches per rank in the current epoch (packing makes it vary slightly by epoch)."""
        return self.num_batches(self._epoch)

    def state_dict(self) -> dict:
        """Position of the *next* batch, plus what it depends on (plain ints)."""
        return {
            "epoch": self._epoch,
            "batch": self._batch,
            "seed": self.cfg.seed,
            "global_rows": self.rows_per_batch * self.world_size,
        }

    def load_state_dict(self, state: dict) -> None:
        """Continue at the saved position; the seed and global batch must match."""
        mine = {"seed": self.cfg.seed, "global_rows": self.rows_per_batch * self.world_size}
        for key, value in mine.items():
            if int(state[key]) != value:
                raise ValueError(f"data state: {key} was {state[key]}, this run has {value}")
        self._epoch, self._batch = int(state["epoch"]), int(state["batch"])


def cpt_mixture(cfg: DataConfig) -> tuple[dict[str, float], list[str]]:
    """The CPT mixture of ``cfg`` (speech-only or the configured one) with the sources of
    ``drop_tasks`` set to 0, and the sorted list of those dropped that had a share."""
    mixture = (MixtureConfig.speech_only() if cfg.cpt_mode == "speech" else cfg.mixture).as_dict()
    unknown = sorted(set(cfg.drop_tasks) - set(mixture))
    if unknown:
        raise ValueError(f"drop_tasks: {unknown} are not CPT sources ({sorted(mixture)})")
    dropped = sorted(t for t in cfg.drop_tasks if mixture[t] > 0)
    mixture = {t: (0.0 if t in cfg.drop_tasks else p) for t, p in mixture.items()}
    for t in mixture:
        if mixture[t] > 0:
            get_template(t, "cpt")
    return mixture, dropped


def check_cpt_sources(wanted: set[str], available: set[str]) -> None:
    """A CPT source with a share but no data stops the run (doc/tasks.md, "Missing data")."""
    missing = sorted(wanted - available)
    if missing:
        raise ValueError(
            f"CPT mixture: no data for {', '.join(missing)} ("
            + "; ".join(f"{t} needs {_needs(t)}" for t in missing)
            + "): give their data, or list them in data.drop_tasks to train without them"
        )


def _needs(task: str) -> str:
    """What a CPT source draws on, for the error naming a source without data."""
    pool = _POOL_OF.get(task)
    if pool == "text":
        return "data.text_pools"
    if pool == "mt":
        return "data.mt_pools"
    return "speech sets with " + " + ".join(get_template(task).requires)


def _stand_in(codes):
    """Zeros of the shape of codes left on disk (no read); anything else as it is."""
    return np.zeros(codes.shape, np.int16) if isinstance(codes, LazyCodes) else codes


def _without_reads(sample: Sample) -> Sample:
    """``sample`` with its on-disk codes stood in for by zeros of their shape."""
    fields = ("codes", "codes_tgt", "speaker_prompt")
    lazy = {
        f: _stand_in(getattr(sample, f))
        for f in fields
        if isinstance(getattr(sample, f), LazyCodes)
    }
    return replace(sample, **lazy) if lazy else sample


class TaskValidSource:
    """A fixed, re-iterable set of validation batches: the first ``num_batches`` global batches
    of epoch 0 of a dataset over the validation sets (this rank's share)."""

    def __init__(self, dataset: TaskDataset, num_batches: int) -> None:
        self.dataset = dataset
        self.task_names = dataset.task_names
        per_rank = min(num_batches // dataset.world_size, dataset.num_batches(0))
        self.num_batches = max(per_rank, 1)

    def __iter__(self) -> Iterator[dict]:
        for b in range(self.num_batches):
            yield self.dataset.get_batch(0, b)


def build_sources(
    data: dict,
    layout: VocabLayout,
    tokenizer,
    rank: int = 0,
    world_size: int = 1,
    **trainer_fields,
) -> tuple[TaskDataset, TaskValidSource | None]:
    """``(train, valid)`` sources from the trainer's ``data:`` section. ``trainer_fields`` are
    the values the trainer's own config owns and that win over the section, e.g.
    ``stage=cfg.stage, seed=cfg.seed, max_len=cfg.batch.max_len, batch_size=cfg.batch.micro_batch``."""

    cfg = replace(config_from_dict(DataConfig, data, "data"), **trainer_fields)
    train = TaskDataset(cfg, layout, tokenizer, rank, world_size)
    return train, valid_source(cfg, layout, tokenizer, rank, world_size, train.builder.prompts.bank)


def valid_source(
    cfg: DataConfig, layout: VocabLayout, tokenizer, rank: int, world_size: int, bank: PromptBank
) -> TaskValidSource | None:
    """The validation source of ``cfg``'s ``valid_*`` sets (None without any)."""
    if not has_validation(cfg):
        return None
    valid = TaskDataset(
        valid_config(cfg), layout, tokenizer, rank, world_size, bank=bank,
        require_all_tasks=False,
    )  # fmt: skip
    return TaskValidSource(valid, cfg.valid_batches)


def has_validation(cfg: DataConfig) -> bool:
    return bool(cfg.valid_speech_sets or cfg.valid_text_pools or cfg.valid_mt_pools)


def valid_config(cfg: DataConfig) -> DataConfig:
    """The validation pipeline's config: the ``valid_*`` sets, one pass, clean inputs."""
    vcfg = replace(
        cfg,
        speech_sets=cfg.valid_speech_sets,
        text_pools=cfg.valid_text_pools,
        mt_pools=cfg.valid_mt_pools,
        examples_per_epoch=0,
        speech_target_noise=0.0,  # validation scores the clean task
    )
    if vcfg.stage == "sft":
        vcfg.build = replace(vcfg.build, time_mask=replace(vcfg.build.time_mask, enable=False))
    return vcfg


def load_corpora(
    cfg: DataConfig, layout: VocabLayout, tokenizer, hooks: tuple | None = None
) -> dict[str, Corpus]:
    """Load every set the config names (speech sets, text pools, MT pools) into memory.
    ``hooks``: the ``(punctuator, translator)`` already loaded (default: loaded here)."""
    punct, trans = hooks or (load_punctuator(cfg.punctuation), load_translator(cfg.translation))
    out: dict[str, Corpus] = {}
    if cfg.speech_sets:
        out["speech"] = merge(
            [
                load_speech_set(s, layout, tokenizer, punct, trans, cfg.codes_in_memory)
                for s in cfg.speech_sets
            ],
            "speech",
        )
    if cfg.text_pools:
        out["text"] = merge([load_text_pool(p, tokenizer) for p in cfg.text_pools], "text pools")
    if cfg.mt_pools:
        out["mt"] = merge([load_text_pool(p, tokenizer, trans) for p in cfg.mt_pools], "MT pools")
    for name, c in out.items():
        log.info("loaded %s: %d items", name, len(c))
    return out
