"""Training of the USTokenizer: resumable exactly, logged, checkpointed without pickles.

One step: a batch of whole utterances (their transcripts are the text loss's targets) ->
``commit_weight * commitment + recon_weight * MSE(features) + text_weight * text CE`` (1 / 45 / 5
in the public config); AdamW on the encoder, decoder and adapter; the codebook moves by EMA
inside the forward pass (the codec's quantiser). The front end and the text LLM are frozen.

Shared with the codec trainer rather than copied: the SIGTERM/SIGINT stop flag
(``utils/signals``), the safetensors + JSON checkpoint files (``utils/checkpoint_io``), the
resume-config check (``config.check_resume_config``), ``run_info.yaml`` and the codebook-usage
figures (``codec/trainer``), the model directory format (``codec/model.save_codec``).

Files under the experiment directory::

    config.yaml            the training config of the latest (re)start
    checkpoint/            model.safetensors, optimizer.{safetensors,json} (moments by parameter
                           name), rng.safetensors, trainer.json (step, sampler position);
                           swapped in as one directory
    model/                 the latest USTokenizer (config.yaml + model.safetensors +
                           train_state.json): what ``ustokenizer_tokenize`` reads
    train_log.jsonl        one line per log interval: losses, LR, speed, codebook usage, and
                           the validation losses every ``valid_every`` steps
    run_info.yaml          every (re)start: command, git commit, step
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import numpy as np
import torch

from espnet_codec_lm.codec.trainer import codebook_usage, record_start
from espnet_codec_lm.config import check_resume_config, dump_config
from espnet_codec_lm.data.data_dir import read_data_dir
from espnet_codec_lm.ustokenizer.config import USTokenizerTrainConfig
from espnet_codec_lm.ustokenizer.model import (
    USTokenizer,
    USTokenizerError,
    load_text_llm,
    save_ustokenizer,
    transcript_ids,
)
from espnet_codec_lm.utils import checkpoint_io as cio
from espnet_codec_lm.utils.fileio import staged_dir
from espnet_codec_lm.utils.progress import progress
from espnet_codec_lm.utils.signals import StopRequest

log = logging.getLogger("ustokenizer_train")
# config keys a resumed run may change without --allow_config_change: they do not change what
# a training step computes
RESUME_MAY_CHANGE = ("max_steps", "log_every", "valid_every", "ckpt_every_s", "num_threads")
LOSSES = ("commit", "recon", "text")

Utterance = tuple[str, torch.Tensor, list[int]]  # id, audio, transcript ids


class UtteranceSampler:
    """Batches of utterance indices: a new seeded permutation every epoch; its position is
    the whole state, so a resumed run draws the same batches."""

    def __init__(self, n: int, batch_size: int, seed: int) -> None:
        self.n, self.batch_size, self.seed = n, min(batch_size, n), seed
        self.epoch, self.pos = 0, 0

    def batch(self) -> list[int]:
        """The next ``batch_size`` indices (an epoch's remainder is dropped)."""
        if self.pos + self.batch_size > self.n:
            self.epoch, self.pos = self.epoch + 1, 0
        order = np.random.default_rng([self.seed, self.epoch]).permutation(self.n)
        out = order[self.pos : self.pos + self.batch_size].tolist()
        self.pos += self.batch_size
        return out

    def state(self) -> dict:
        return {"epoch": self.epoch, "pos": self.pos}

    def set_state(self, state: dict) -> None:
        self.epoch, self.pos = int(state["epoch"]), int(state["pos"])


def load_utterances(
    data: str | Path, model: USTokenizer, max_seconds: float = 0.0, max_utts: int = 0
) -> list[Utterance]:
    """Audio and transcript ids of a Kaldi data dir (the data layer's readers: a bad file is a
    one-line error naming the utterance); utterances longer than ``max_seconds`` (> 0) are
    skipped."""
    dd = read_data_dir(data)
    if not dd.text:
        raise USTokenizerError(f"{data}/text: missing (the text loss needs transcripts)")
    sr, append_eos = model.cfg.sample_rate, model.cfg.text_llm.append_eos
    out, skipped = [], 0
    for utt in dd.utt_ids[: max_utts or None]:
        if utt not in dd.text:
            raise USTokenizerError(f"{data}/text: utterance '{utt}' has no transcript")
        wav = dd.load_audio(utt, sr)
        if max_seconds > 0 and len(wav) > max_seconds * sr:
            skipped += 1
            continue
        ids = transcript_ids(model.text_tokenizer, model.llm, dd.text[utt], append_eos)
        out.append((utt, torch.from_numpy(wav), ids))
    if skipped:
        log.info("%s: %d utterances longer than %.1f s skipped", data, skipped, max_seconds)
    if not out:
        raise USTokenizerError(f"{data}: no usable utterances")
    return out


class USTokenizerTrainer:
    """Owns the model, optimiser, RNGs and step counter of one USTokenizer experiment.
    ``llm`` / ``tokenizer``: an already loaded text LLM (tests); else ``model.text_llm``."""

    def __init__(
        self,
        cfg: USTokenizerTrainConfig,
        exp_dir: str | Path | None = None,
        llm=None,
        tokenizer=None,
    ) -> None:
        self.cfg = cfg
        self.exp_dir = Path(exp_dir) if exp_dir is not None else None
        if llm is None:
            llm, tokenizer = load_text_llm(cfg.model.text_llm)
        torch.manual_seed(cfg.seed)
        width = llm.get_input_embeddings().weight.shape[1]
        self.model = USTokenizer(cfg.model, adapter_dim=width)
        self.model.attach_text_llm(llm, tokenizer)
        self.model.quantizer.gen = torch.Generator().manual_seed(cfg.seed + 1)
        o = cfg.optim
        self.opt = torch.optim.AdamW(
            self.model.parameters(), lr=o.lr, betas=tuple(o.betas), weight_decay=o.weight_decay
        )
        self.names = [n for n, _ in self.model.named_parameters()]
        self.step = 0
        self.hist = np.zeros(self.model.codebook_size, np.int64)

    def lr(self) -> float:
        o = self.cfg.optim
        return o.lr * o.lr_decay ** (self.step // max(1, o.lr_decay_every))

    def losses(self, batch: list[Utterance]) -> tuple[torch.Tensor, dict[str, float], torch.Tensor]:
        """Weighted total, the separate losses and the codes of a batch."""
        w = self.cfg.loss
        out = self.model([b[1] for b in batch], [b[2] for b in batch])
        total = w.commit_weight * out["commit"] + w.recon_weight * out["recon"]
        total = total + w.text_weight * out["text"]
        values = {k: out[k].item() for k in LOSSES}
        values["loss"] = total.item()
        return total, values, out["codes"]

    def train_step(self, batch: list[Utterance]) -> dict[str, float]:
        """One update on ``batch``; returns the loss values and the gradient norm."""
        self.model.train()
        for g in self.opt.param_groups:
            g["lr"] = self.lr()
        total, values, codes = self.losses(batch)
        self.opt.zero_grad(set_to_none=True)
        total.backward()
        values["grad_norm"] = float(
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.optim.grad_clip)
        )
        self.opt.step()
        self.step += 1
        used = codes[codes >= 0].numpy()
        self.hist += np.bincount(used, minlength=self.hist.shape[0])
        return values

    @torch.no_grad()
    def validate(self, utts: list[Utterance]) -> dict[str, float]:
        """Mean losses over ``utts`` (eval mode: the codebook does not move, and the quantiser
        computes no commitment loss, so ``valid_loss`` is reconstruction + text)."""
        self.model.eval()
        rows = []
        bs = self.cfg.data.batch_size
        for i in range(0, len(utts), bs):
            rows.append(self.losses(utts[i : i + bs])[1])
        keys = [k for k in rows[0] if k != "commit"]
        return {f"valid_{k}": float(np.mean([r[k] for r in rows])) for k in keys}

    # --- checkpoints -------------------------------------------------------------------------
    def save(self, sampler: UtteranceSampler | None) -> None:
        """Write ``checkpoint/`` (one directory swap), then ``model/``."""
        assert self.exp_dir is not None
        with staged_dir(self.exp_dir / "checkpoint") as tmp:
            cio.save_tensors(tmp / "model.safetensors", self.model.state_dict())
            cio.save_optimizer(tmp, "optimizer", self.opt, self.names)
            rng = {"torch": torch.get_rng_state(), "quant": self.model.quantizer.gen.get_state()}
            cio.save_tensors(tmp / "rng.safetensors", rng)
            state = {"step": self.step, "sampler": sampler.state() if sampler else None}
            cio.write_json(tmp / "trainer.json", state)
        self.save_model_dir()

    def save_model_dir(self) -> None:
        """``model/``: the weights, config and step, swapped in as one directory."""
        assert self.exp_dir is not None
        state = {"step": self.step, "saved": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())}
        save_ustokenizer(
            self.model, self.exp_dir / "model", {"train_state.json": json.dumps(state)}
        )

    def model_dir_step(self) -> int | None:
        """The step of ``model/`` (``None`` when missing or unreadable)."""
        assert self.exp_dir is not None
        try:
            return int(cio.read_json(self.exp_dir / "model" / "train_state.json")["step"])
        except (cio.CheckpointError, KeyError, TypeError, ValueError):
            return None

    def load(self, ckpt: Path, sampler: UtteranceSampler | None) -> None:
        """Restore everything :meth:`save` wrote; a checkpoint that does not fit is a one-line
        ValueError naming it."""
        try:
            self.model.load_state_dict(cio.read_tensors(ckpt / "model.safetensors"))
            cio.load_optimizer(ckpt, "optimizer", self.opt, self.names)
            rng = cio.read_tensors(ckpt / "rng.safetensors")
            state = cio.read_json(ckpt / "trainer.json")
        except (cio.CheckpointError, RuntimeError, KeyError, ValueError) as e:
            why = (str(e).splitlines() or [type(e).__name__])[0]
            raise ValueError(
                f"{ckpt}: cannot resume from this checkpoint ({why}); use --no_resume to start over"
            ) from None
        torch.set_rng_state(rng["torch"])
        self.model.quantizer.gen.set_state(rng["quant"])
        if sampler is not None and state.get("sampler"):
            sampler.set_state(state["sampler"])
        self.step = int(state["step"])


def _log_row(trainer: USTokenizerTrainer, acc: dict[str, list[float]], seconds: float) -> dict:
    row = {"step": trainer.step, "time": time.time(), "lr": trainer.lr()}
    row.update({k: float(np.mean(v)) for k, v in acc.items()})
    row["steps_per_s"] = len(next(iter(acc.values()))) / max(1e-9, seconds)
    row["codebook_ppl"], row["codebook_used"] = codebook_usage(trainer.hist)
    return row


def train(
    cfg: USTokenizerTrainConfig,
    exp_dir: str | Path,
    resume: bool = True,
    command: str | None = None,
    allow_config_change: bool = False,
    llm=None,
    tokenizer=None,
) -> USTokenizerTrainer:
    """Train until ``cfg.max_steps``, resuming from ``exp_dir/checkpoint/`` when present (a
    config that differs from the saved one beyond ``RESUME_MAY_CHANGE`` is refused unless
    ``allow_config_change``). SIGTERM / SIGINT: finish the step, checkpoint, return."""
    exp_dir = Path(exp_dir)
    ckpt = exp_dir / "checkpoint"
    torch.set_num_threads(cfg.num_threads)
    if resume and ckpt.is_dir():
        check_resume_config(
            exp_dir / "config.yaml", cfg, RESUME_MAY_CHANGE, allow_config_change, log
        )
    if not cfg.data.train:
        raise ValueError("data.train is not set (a Kaldi data dir with wav.scp and text)")
    trainer = USTokenizerTrainer(cfg, exp_dir, llm, tokenizer)
    d = cfg.data
    # all audio is read (and checked) before anything is written
    utts = load_utterances(d.train, trainer.model, d.max_seconds, d.max_utts)
    valid = load_utterances(d.valid, trainer.model, 0.0, d.valid_utts) if d.valid else []
    log.info("training: %d utterances; validation: %d", len(utts), len(valid))
    sampler = UtteranceSampler(len(utts), d.batch_size, cfg.seed)
    exp_dir.mkdir(parents=True, exist_ok=True)
    if resume and ckpt.is_dir():
        trainer.load(ckpt, sampler)
        log.info("resumed from %s at step %d", ckpt, trainer.step)
        if trainer.model_dir_step() != trainer.step:  # killed between checkpoint/ and model/
            trainer.save_model_dir()
    dump_config(cfg, exp_dir / "config.yaml")
    record_start(exp_dir, trainer.step, command)
    n_params = sum(p.numel() for p in trainer.model.parameters())
    log.info("USTokenizer: %.2fM trainable parameters", n_params / 1e6)
    log_path = exp_dir / "train_log.jsonl"
    acc: dict[str, list[float]] = {}
    t_ckpt = t_log = time.time()
    bar = progress(total=cfg.max_steps, initial=trainer.step, desc="ustokenizer_train")
    with StopRequest() as stop:
        while trainer.step < cfg.max_steps and not stop.stopped:
            for k, v in trainer.train_step([utts[i] for i in sampler.batch()]).items():
                acc.setdefault(k, []).append(v)
            bar.update(1)
            step = trainer.step
            if step % cfg.log_every == 0:
                row = _log_row(trainer, acc, time.time() - t_log)
                if valid and step % cfg.valid_every == 0:
                    row.update(trainer.validate(valid))
                trainer.hist[:] = 0
                acc, t_log = {}, time.time()
                with open(log_path, "a") as f:  # append-only; a resumed run repeats steps
                    f.write(json.dumps(row) + "\n")
                log.info(
                    "step %d loss %.3f (commit %.3f recon %.4f text %.3f) codes used %.2f "
                    "ppl %.0f %.2f step/s%s",
                    step,
                    row["loss"],
                    row["commit"],
                    row["recon"],
                    row["text"],
                    row["codebook_used"],
                    row["codebook_ppl"],
                    row["steps_per_s"],
                    "".join(f" {k}={v:.3f}" for k, v in row.items() if k.startswith("valid_")),
                )
            if time.time() - t_ckpt >= cfg.ckpt_every_s or step == cfg.max_steps or stop.stopped:
                trainer.save(sampler)
                t_ckpt = time.time()
    bar.close()
    if stop.stopped:
        log.info("stopped by signal %d at step %d (checkpoint saved)", stop.signum, trainer.step)
    return trainer
