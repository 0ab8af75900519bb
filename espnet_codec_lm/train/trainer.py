"""The LM training loop for CPT and SFT: global-batch accumulation, AdamW, checkpoints, logs.

One optimiser step consumes ``batch.global_sequences`` packed rows: each of the ``W`` ranks pulls
``A = global_sequences / (micro_batch * W)`` micro-batches from its data source, counts the
targets, and the counts are summed over ranks *before* any forward pass, so every micro-batch's
loss is scaled by the same global denominator (see :mod:`espnet_codec_lm.train.losses`). FSDP
skips the gradient reduce-scatter on all but the last micro-batch. Then the gradient norm is
clipped (global over shards), AdamW steps and the LR schedule advances.

Outputs in the experiment directory: ``config.yaml``, ``system.yaml``, ``checkpoints/``,
``train_log.jsonl``, ``valid_log.jsonl``, ``tensorboard/``, ``ppl.yaml``, ``loss_curve.png``,
``train.done``. A rerun resumes from ``checkpoints/latest`` and skips a finished run.
"""

from __future__ import annotations

import itertools
import logging
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
import yaml

from espnet_codec_lm.config import ConfigError, check_resume_config, dump_config
from espnet_codec_lm.lm.model import SpeechLMError
from espnet_codec_lm.train.checkpoint import (
    CheckpointManager,
    load_model_weights,
    save_model_weights,
)
from espnet_codec_lm.train.config import LMTrainConfig
from espnet_codec_lm.train.data import TrainSource, ValidSource
from espnet_codec_lm.train.decode_monitor import log_examples, write_records
from espnet_codec_lm.train.distributed import (
    DistEnv,
    all_reduce_sum,
    autocast,
    broadcast_object,
    set_grad_sync,
    wrap_model,
)
from espnet_codec_lm.train.errors import TrainingInterrupted
from espnet_codec_lm.train.evaluate import evaluate_loss, text_perplexity
from espnet_codec_lm.train.logger import TrainLogger, plot_loss_curve
from espnet_codec_lm.train.losses import (
    LossStats,
    count_targets,
    forward_batch,
    guided_attention_sum,
    model_losses,
)
from espnet_codec_lm.train.rng import restore_rng, rng_to_json
from espnet_codec_lm.train.schedule import build_scheduler, load_scheduler_state, scheduler_state
from espnet_codec_lm.utils import provenance
from espnet_codec_lm.utils.fileio import atomic_write_text
from espnet_codec_lm.utils.progress import progress
from espnet_codec_lm.utils.seed import set_seed
from espnet_codec_lm.utils.signals import StopRequest

log = logging.getLogger(__name__)

DONE = "train.done"
PPL_YAML = "ppl.yaml"
# config keys a resumed run may change without --allow_config_change (each change is logged):
# the stopping rule (extending max_steps also stretches what is left of the LR decay), logging,
# checkpoint and validation cadence, the report's system name, activation checkpointing; none
# of them changes what a training step computes
RESUME_MAY_CHANGE = (
    "stop",
    "log",
    "checkpoint",
    "eval",
    "system",
    "dist.activation_checkpointing",
)


@dataclass
class TextEval:
    """Held-out text for the perplexity monitor: this rank's batches, the total token count and
    the number of text rows (the softmax of the monitor is restricted to them)."""

    path: str
    batches: list[dict]
    tokens: int
    text_rows: int


class _StopRequest(StopRequest):
    """:class:`~espnet_codec_lm.utils.signals.StopRequest` across ranks: every rank asks every
    step (one scalar all-reduce): if any was signalled, all stop at the same step and save
    together."""

    def requested(self, env: DistEnv) -> bool:
        flag = torch.tensor([1.0 if self.signum is not None else 0.0])
        return bool(all_reduce_sum(flag, env).item() > 0)


def prepare_guided_attention(model: torch.nn.Module, cfg) -> None:
    """Let the guided attention's heads and layers of ``model`` (a SpeechLM) report their
    attention probabilities (SpeechLM.probe_attention: SDPA everywhere, the probabilities of
    those heads only)."""
    if not hasattr(model, "probe_attention"):
        raise ConfigError("guided_attention needs a SpeechLM (a transformers model inside)")
    try:
        model.probe_attention(list(cfg.layers), list(cfg.heads))
    except SpeechLMError as e:
        raise ConfigError(f"guided_attention: {e}") from None


def accumulation_steps(global_sequences: int, micro_batch: int, world_size: int) -> int:
    per_step = micro_batch * world_size
    if global_sequences % per_step:
        raise ValueError(
            f"batch.global_sequences={global_sequences} is not a multiple of micro_batch "
            f"({micro_batch}) x processes ({world_size})"
        )
    return global_sequences // per_step


def _param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict]:
    """No weight decay on biases and norm gains (1-D tensors), as Megatron-LM does."""
    decay, no_decay = [], []
    for p in model.parameters():
        if p.requires_grad:
            (decay if p.ndim >= 2 else no_decay).append(p)
    return [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]


class Trainer:
    """Trains ``model`` on ``train`` batches as ``cfg`` says, writing into ``exp_dir``."""

    def __init__(
        self,
        cfg: LMTrainConfig,
        exp_dir: str | Path,
        model: torch.nn.Module,
        num_heads: int,
        train: TrainSource,
        env: DistEnv,
        valid: ValidSource | None = None,
        text_eval: TextEval | None = None,
        model_writer: Callable[[dict, Path], None] = save_model_weights,
        model_reader: Callable[[Path], dict] = load_model_weights,
        resume: bool = True,
        allow_config_change: bool = False,
    ) -> None:
        self.cfg, self.env = cfg, env
        self.exp_dir = Path(exp_dir)
        self.num_heads = num_heads
        self.train, self.valid, self.text_eval = train, valid, text_eval
        self.task_names = list(train.task_names)
        self.accum = accumulation_steps(
            cfg.batch.global_sequences, cfg.batch.micro_batch, env.world_size
        )
        self.total_steps = self._total_steps()
        self.guided = cfg.guided_attention if cfg.guided_attention.enabled else None
        if self.guided is not None:
            prepare_guided_attention(model, self.guided)
        self.model = wrap_model(model, env, cfg.dist)
        o = cfg.optim
        self.optimizer = torch.optim.AdamW(
            _param_groups(self.model, o.weight_decay), lr=o.lr, betas=tuple(o.betas), eps=o.eps
        )
        self.scheduler = build_scheduler(self.optimizer, o, self.total_steps)
        self.ckpt = CheckpointManager(
            self.exp_dir / "checkpoints", env, cfg.checkpoint.keep_last, model_writer, model_reader
        )
        self.step = 0
        self.positions_seen = 0
        self.elapsed_before = 0.0  # wall seconds of training before this process (resume)
        set_seed(cfg.seed + 1000 * env.rank)  # per-rank stream (dropout); the model is built
        latest = self.ckpt.latest() if resume else None
        if latest is not None:
            check_resume_config(
                self.exp_dir / "config.yaml", cfg, RESUME_MAY_CHANGE, allow_config_change, log
            )
            self._restore(latest)
        self.logger = TrainLogger(self.exp_dir, env.is_main, cfg.log.tensorboard, self.step)
        self.ppl = self._read_ppl() if env.is_main else {}
        self.decode_monitor = None  # a train.decode_monitor.DecodeMonitor (build_trainer sets it)
        self._t_start = time.perf_counter() - self.elapsed_before

    # --- setup ---------------------------------------------------------------------------
    def _total_steps(self) -> int:
        stop = self.cfg.stop
        steps = [stop.max_steps] if stop.max_steps is not None else []
        if stop.max_epochs is not None:
            per_epoch = self.train.micro_batches_per_epoch()
            if not per_epoch:
                raise ValueError("stop.max_epochs needs a data source of known size")
            steps.append(math.ceil(stop.max_epochs * per_epoch / self.accum))
        return max(1, min(steps))

    def _restore(self, ckpt: Path) -> None:
        trainer_state, rank_state = self.ckpt.load(ckpt, self.model, self.optimizer)
        self.step = int(trainer_state["step"])
        self.positions_seen = int(trainer_state.get("positions_seen", 0))
        self.elapsed_before = float(trainer_state.get("elapsed_s", 0.0))
        load_scheduler_state(self.scheduler, trainer_state["scheduler"])
        self.train.load_state_dict(rank_state["data"])
        restore_rng(rank_state["rng"])

    def _read_ppl(self) -> dict:
        p = self.exp_dir / PPL_YAML
        data = yaml.safe_load(p.read_text(encoding="utf-8")) if p.is_file() else {}
        data = data or {}
        data["text_ppl_history"] = [
            h for h in data.get("text_ppl_history", []) if h["step"] <= self.step
        ]
        return data

    def _write_meta(self) -> None:
        if not self.env.is_main:
            return
        self.exp_dir.mkdir(parents=True, exist_ok=True)
        dump_config(self.cfg, self.exp_dir / "config.yaml")
        meta = {"system": self.cfg.system, "stage": self.cfg.stage}
        mix = getattr(self.train, "mixture_summary", None)
        summary = mix() if callable(mix) else None
        if summary is not None:  # the CPT mixture as trained (shares over the sources with data)
            meta["cpt_mixture"] = summary
        atomic_write_text(self.exp_dir / "system.yaml", yaml.safe_dump(meta, allow_unicode=True))

    # --- one optimiser step ----------------------------------------------------------------
    def train_step(self) -> dict:
        t0 = time.perf_counter()
        micro = [self.train.next_batch() for _ in range(self.accum)]
        t_data = time.perf_counter() - t0
        local = torch.stack([count_targets(mb) for mb in micro]).sum().double()
        positions = sum(mb["position_ids"].numel() for mb in micro)
        totals = all_reduce_sum(torch.tensor([float(local), float(positions)]).double(), self.env)
        global_targets, global_positions = float(totals[0]), int(totals[1])
        scale = self.env.world_size / max(global_targets, 1.0)
        stats = LossStats(self.num_heads, len(self.task_names))
        align = torch.zeros(2, dtype=torch.float64)  # guided attention: penalty sum, frames
        for i, mb in enumerate(micro):
            t1 = time.perf_counter()
            mb = {k: v.to(self.env.device, non_blocking=True) for k, v in mb.items()}
            t_data += time.perf_counter() - t1
            set_grad_sync(self.model, self.env, i == len(micro) - 1)
            g = self.guided
            with autocast(self.env):
                raw = forward_batch(self.model, mb, return_attentions=g is not None)
                out = model_losses(raw)
                loss = out["loss_sum"].sum()
                if g is not None:
                    spans = mb["align_spans"]
                    penalty, frames = guided_attention_sum(raw.attentions, spans, g.sigma)
                    loss = loss + g.weight * penalty
                    align += torch.tensor([float(penalty.detach()), float(frames)])
                    del raw  # the guided heads' attention maps
            (loss * scale).backward()
            stats.add(out, mb)
        grad_norm = torch.nn.utils.clip_grad_norm_(
            self.model.parameters(), self.cfg.optim.grad_clip
        )
        if hasattr(grad_norm, "full_tensor"):
            grad_norm = grad_norm.full_tensor()
        grad_norm = float(grad_norm)
        lr = self.scheduler.get_last_lr()[0]
        if math.isfinite(grad_norm):
            self.optimizer.step()
        else:
            log.warning("step %d: non-finite gradient norm, update skipped", self.step + 1)
        self.optimizer.zero_grad(set_to_none=True)
        self.scheduler.step()
        stats = stats.reduce(self.env)
        extra = {}
        if self.guided is not None:
            align = all_reduce_sum(align, self.env)
            if align[1]:  # a step without aligned frames logs no key (as LossStats: no NaN)
                extra["loss/align"] = float(align[0] / align[1])
        dt = time.perf_counter() - t0
        self.step += 1
        self.positions_seen += global_positions
        return {
            "step": self.step,
            **stats.as_dict(self.task_names),
            **extra,
            "lr": lr,
            "grad_norm": grad_norm,
            "targets": global_targets,
            "positions_per_s": global_positions / dt,
            "step_time": dt,
            "data_share": t_data / dt,
        }

    # --- evaluation --------------------------------------------------------------------------
    @property
    def elapsed_s(self) -> float:
        """Wall seconds of training so far, over every resumed process."""
        return time.perf_counter() - self._t_start

    def _decode_due(self) -> bool:
        every = self.cfg.eval.decode_every_steps
        if self.decode_monitor is None or every is None:
            return False
        return self.step % every == 0 or self.step >= self.total_steps

    def _decode(self) -> dict:

        t0 = time.perf_counter()
        metrics, records = self.decode_monitor.run(self.model)
        if self.env.is_main:
            write_records(self.exp_dir / "decode_monitor.jsonl", self.step, records)
            log_examples(records, metrics, self.step)
        # the monitor's own time is not training time
        self._t_start += time.perf_counter() - t0
        return metrics

    def validate(self) -> dict:
        row: dict = {"step": self.step, "elapsed_s": round(self.elapsed_s, 1)}
        if self.valid is not None:
            limit = self.cfg.eval.valid_max_batches
            batches = itertools.islice(self.valid, limit) if limit else self.valid
            stats = evaluate_loss(self.model, batches, self.task_names, self.num_heads, self.env)
            row.update(stats.as_dict(self.task_names))
        if self.text_eval is not None and self._ppl_due():
            row.update(self._text_ppl())
        if self._decode_due():
            row.update(self._decode())
        return row

    def _ppl_due(self) -> bool:
        every = self.cfg.eval.text_ppl_every_steps
        return every is None or self.step % every == 0 or self.step >= self.total_steps

    def _text_ppl(self) -> dict:
        """Evaluate the monitor, record it in ppl.yaml, return the row entries."""
        te = self.text_eval
        res = text_perplexity(self.model, te.batches, te.text_rows, self.env)
        if self.env.is_main:
            self._record_ppl(res["text_ppl"], res["text_ppl_fullvocab"])
        return {"text_ppl": res["text_ppl"], "text_ppl_fullvocab": res["text_ppl_fullvocab"]}

    def _record_ppl(self, ppl: float, ppl_full: float) -> None:
        te = self.text_eval
        self.ppl.update(text_ppl_file=str(te.path), text_ppl_tokens=te.tokens)
        hist = [h for h in self.ppl.get("text_ppl_history", []) if h["step"] != self.step]
        entry = {"step": self.step, "ppl": ppl, "ppl_fullvocab": ppl_full}
        self.ppl["text_ppl_history"] = hist + [entry]
        if self.step == 0:
            self.ppl["text_ppl_init"] = ppl
            self.ppl["text_ppl_fullvocab_init"] = ppl_full
        if self.step >= self.total_steps:
            self.ppl["text_ppl_final"] = ppl
            self.ppl["text_ppl_fullvocab_final"] = ppl_full
        order = [
            "text_ppl_init",
            "text_ppl_final",
            "text_ppl_fullvocab_init",
            "text_ppl_fullvocab_final",
            "text_ppl_file",
            "text_ppl_tokens",
        ]
        ordered = {k: self.ppl[k] for k in order if k in self.ppl}
        ordered.update({k: v for k, v in self.ppl.items() if k not in ordered})
        text = yaml.safe_dump(ordered, sort_keys=False, allow_unicode=True)
        atomic_write_text(self.exp_dir / PPL_YAML, text)

    # --- the loop ----------------------------------------------------------------------------
    def _finished_by_epochs(self) -> bool:
        if self.cfg.stop.max_epochs is None:
            return False
        done = self.train.epoch >= self.cfg.stop.max_epochs
        return bool(broadcast_object(done if self.env.is_main else None, self.env))

    def _save(self) -> None:
        trainer_state = {
            "step": self.step,
            "total_steps": self.total_steps,
            "positions_seen": self.positions_seen,
            "elapsed_s": self.elapsed_s,
            "scheduler": scheduler_state(self.scheduler),
        }
        rank_state = {"data": self.train.state_dict(), "rng": rng_to_json()}
        self.ckpt.save(self.step, self.model, self.optimizer, trainer_state, rank_state)

    def fit(self) -> dict:
        """Train to the stopping rule; returns the last training and validation rows."""
        done_file = self.exp_dir / DONE
        if self.step >= self.total_steps and done_file.is_file():
            log.info("%s: already finished at step %d", self.exp_dir, self.step)
            return {"step": self.step, "skipped": True}
        self._write_meta()
        if self.env.is_main:  # run_info.yaml: this (re)start's step, command and commit
            command = provenance.command_line(Path(sys.argv[0]).name)
            provenance.record_start(self.exp_dir, self.step, command)
        if self.step == 0 and self.text_eval is not None:
            row = {"step": 0, **self._text_ppl()}
            self.logger.valid(row)
            log.info("text perplexity before training: %.3f", row["text_ppl"])
        bar = progress(total=self.total_steps, initial=self.step, desc=f"{self.cfg.stage} steps")
        last: dict = {}
        valid_row: dict = {}
        cc, ec = self.cfg.checkpoint, self.cfg.eval
        stop = _StopRequest()
        try:
            while self.step < self.total_steps and not self._finished_by_epochs():
                last = self.train_step()
                self.logger.train(last)
                bar.update(1)
                bar.set_postfix(loss=f"{last['loss']:.3f}", tok_s=f"{last['positions_per_s']:.0f}")
                if self.step % self.cfg.log.every_steps == 0:
                    log.info(
                        "step %d loss %.4f lr %.2e grad %.3f %.0f pos/s",
                        self.step,
                        last["loss"],
                        last["lr"],
                        last["grad_norm"],
                        last["positions_per_s"],
                    )
                if stop.requested(self.env):
                    self._save()
                    raise TrainingInterrupted(
                        f"stopped by signal {stop.signum or 'on another rank'} after step "
                        f"{self.step}: checkpoint saved in {self.exp_dir}; rerun to resume",
                        stop.signum,
                    )
                final = self.step >= self.total_steps
                valid_due = ec.every_steps and self.step % ec.every_steps == 0
                if not final and (valid_due or self._decode_due()):
                    valid_row = self.validate()
                    self.logger.valid(valid_row)
                if not final and cc.every_steps and self.step % cc.every_steps == 0:
                    self._save()
            self.total_steps = self.step  # an epoch rule may stop early: "final" is now
            valid_row = self.validate()
            self.logger.valid(valid_row)
            self._save()
        finally:
            stop.restore()
            bar.close()
            self.logger.close()
        if self.env.is_main:
            plot_loss_curve(self.exp_dir)
            atomic_write_text(done_file, f"{self.step}\n")
        shown = {k: round(v, 4) for k, v in valid_row.items() if k != "step"}
        log.info("finished at step %d; final validation: %s", self.step, shown)
        return {"train": last, "valid": valid_row}
