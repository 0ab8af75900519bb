"""GAN training of the codec: resumable, logged (text, JSONL, TensorBoard, PNG), checkpointed.

One step: quantiser dropout draws the codebooks per segment; the generator is trained on the
multi-scale mel loss (+ optional multi-resolution STFT), the commitment loss and, from
``loss.adv_start_step`` on, the adversarial and feature-matching losses of the discriminators,
which then take one step of their own. Codebooks are updated by EMA inside the forward pass
(DAC's codebook loss is replaced by it; see quantizer.py).

Files under the experiment directory::

    config.yaml            the full training config (written once)
    checkpoint/            generator.safetensors, optimizer_g.{safetensors,json} (by parameter
                           name), [discriminator.safetensors, optimizer_d.*], rng.safetensors,
                           trainer.json (step, segment sampler): pickle-free (utils/checkpoint_io),
                           swapped in as one directory
    codec/                 the latest generator as a codec dir (config.yaml + model.safetensors)
    snapshots/step*.safetensors   generator weights at past checkpoints (the last few)
    train_log.jsonl        one line per log interval: losses, LR, speed, codebook usage
    losses.png, tensorboard/   plots and TensorBoard scalars (the LM trainer's layout)

Experiments from before 2026-12 have a ``checkpoint.pt`` (torch.save) instead of ``checkpoint/``:
a rerun resumes from it (``torch.load(weights_only=True)``, so a pickle with code in it is
refused) and its next save replaces it by ``checkpoint/``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import time
from pathlib import Path

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel as DDP

from espnet_codec_lm.codec.audio import iter_audio
from espnet_codec_lm.codec.augment import SegmentSampler
from espnet_codec_lm.codec.config import CodecTrainConfig
from espnet_codec_lm.codec.discriminators import CodecDiscriminator
from espnet_codec_lm.codec.losses import (
    MultiResolutionSTFTLoss,
    MultiScaleMelLoss,
    discriminator_loss,
    feature_matching_loss,
    generator_adv_loss,
)
from espnet_codec_lm.codec.model import SoundStreamCodec, resolve_device, save_codec
from espnet_codec_lm.codec.quantizer import DataParallelSync
from espnet_codec_lm.config import check_resume_config, dump_config
from espnet_codec_lm.utils import checkpoint_io as cio
from espnet_codec_lm.utils import distributed as dist_util
from espnet_codec_lm.utils import provenance
from espnet_codec_lm.utils.distributed import DistEnv
from espnet_codec_lm.utils.fileio import atomic_path, staged_dir
from espnet_codec_lm.utils.progress import progress
from espnet_codec_lm.utils.signals import StopRequest

log = logging.getLogger("codec_train")
# config keys a resumed run may change without --allow_config_change (each change is logged):
# they do not change what a training step computes
RESUME_MAY_CHANGE = (
    "max_steps",
    "log_every",
    "valid_every",
    "ckpt_every_s",
    "keep_snapshots",
    "num_threads",
    "data.valid",
    "device",  # moving an experiment between a CPU and a GPU machine
    "precision",
)


CHECKPOINT = "checkpoint"  # the directory of the latest checkpoint
LEGACY_CHECKPOINT = "checkpoint.pt"  # before 2026-12 (torch.save); still resumed from


def find_checkpoint(exp_dir: Path) -> Path | None:
    """``checkpoint/`` when present, else a legacy ``checkpoint.pt``, else None."""
    for name in (CHECKPOINT, LEGACY_CHECKPOINT):
        if (exp_dir / name).exists():
            return exp_dir / name
    return None


def codebook_usage(hist: np.ndarray) -> tuple[float, float]:
    """``(perplexity, fraction of codes used)`` of a code histogram."""
    total = hist.sum()
    if total == 0:
        return 0.0, 0.0
    p = hist[hist > 0] / total
    return float(math.exp(-(p * np.log(p)).sum())), float((hist > 0).mean())


class CodecTrainer:
    """Owns the models, optimisers and step counter of one codec experiment.

    Everything trains on ``device`` (default: ``cfg.device`` resolved by
    :func:`resolve_device`); ``cfg.precision=bf16`` autocasts the generator and the
    discriminators on CUDA (losses and quantiser in fp32), on CPU it is fp32. The random streams
    (quantiser, dropout, segments) stay on the CPU, so a run draws the same on any device and
    checkpoints are the same files."""

    def __init__(
        self,
        cfg: CodecTrainConfig,
        exp_dir: str | Path | None = None,
        device: torch.device | str | None = None,
        env: DistEnv | None = None,
    ) -> None:
        self.cfg = cfg
        self.exp_dir = Path(exp_dir) if exp_dir is not None else None
        self.env = env if env is not None else DistEnv()
        if self.env.ddp:
            device = self.env.device
        self.device = torch.device(device) if device is not None else resolve_device(cfg.device)
        self.bf16 = cfg.precision == "bf16" and self.device.type == "cuda"
        if cfg.precision == "bf16" and not self.bf16:
            log.info("precision=bf16 is for CUDA only: training in fp32 on %s", self.device)
        torch.manual_seed(cfg.seed)
        # built on the CPU (the same initial weights on any device), then moved
        self.model = SoundStreamCodec(cfg.model).to(self.device)
        self.model.quantizer.gen = torch.Generator().manual_seed(cfg.seed + 1)
        self.disc = None
        if cfg.loss.adv_weight > 0 or cfg.loss.feat_weight > 0:
            self.disc = CodecDiscriminator(cfg.discriminator).to(self.device)
        o = cfg.optim
        self.opt_g = torch.optim.AdamW(
            self.model.parameters(), lr=o.lr, betas=tuple(o.betas), weight_decay=o.weight_decay
        )
        self.opt_d = (
            torch.optim.AdamW(
                self.disc.parameters(), lr=o.lr, betas=tuple(o.betas), weight_decay=o.weight_decay
            )
            if self.disc is not None
            else None
        )
        sr = cfg.model.sample_rate
        self.mel_loss = MultiScaleMelLoss(sr, cfg.loss.mel_windows, cfg.loss.mel_bins).to(
            self.device
        )
        self.stft_loss = MultiResolutionSTFTLoss(cfg.loss.stft_windows).to(self.device)
        self.step = 0
        self.dropout_gen = torch.Generator().manual_seed(cfg.seed + 2)
        nq = cfg.model.quantizer.num_codebooks
        self.hist = np.zeros((nq, cfg.model.quantizer.codebook_size), np.int64)
        # what a step runs: the modules themselves, or their DDP replicas under torchrun (the
        # modules, their state dicts and the checkpoints stay the same)
        self.gen_step: torch.nn.Module = self.model
        self.disc_step: torch.nn.Module | None = self.disc
        if self.env.ddp:
            self._replicate()

    def _replicate(self) -> None:
        """DistributedDataParallel around generator and discriminators (gradients averaged over
        the ranks); the quantiser's codebook updates see the whole global batch."""
        env = self.env
        ids = [env.device.index] if env.device.type == "cuda" else None
        # factorised codebooks beyond the batch's largest n_q leave their projections unused
        unused = self.cfg.model.quantizer.kind == "factorized"
        # buffers (the codebooks) are kept equal by the quantiser's own sync, not broadcast
        self.gen_step = DDP(
            self.model, device_ids=ids, broadcast_buffers=False, find_unused_parameters=unused
        )
        if self.disc is not None:
            self.disc_step = DDP(self.disc, device_ids=ids, broadcast_buffers=False)
        self.model.quantizer.sync = DataParallelSync(
            lambda t: dist_util.all_gather_rows(t, env), env.world_size
        )

    # --- one step ----------------------------------------------------------------------------
    def lr(self) -> float:
        o = self.cfg.optim
        return o.lr * o.lr_decay ** (self.step // max(1, o.lr_decay_every))

    def autocast(self):
        """bf16 autocast of the networks on CUDA (``precision: bf16``), else nothing."""
        if self.bf16:
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def train_step(self, wav: torch.Tensor) -> dict[str, float]:
        """One generator (+ discriminator) update on ``wav [B, N]``; returns the loss values.

        Under torchrun ``wav`` is the global batch (the same on every rank): each rank trains on
        its contiguous share and the returned values are the means over the ranks."""
        cfg, lc = self.cfg, self.cfg.loss
        self.gen_step.train()
        for opt in (self.opt_g, self.opt_d):
            if opt is not None:
                for g in opt.param_groups:
                    g["lr"] = self.lr()
        n_q = self.model.quantizer.draw_n_q(wav.shape[0], self.dropout_gen)  # on the CPU
        if self.env.ddp:  # this rank's share of the global batch
            share = wav.shape[0] // self.env.world_size
            lo = self.env.rank * share
            wav, n_q = wav[lo : lo + share], n_q[lo : lo + share]
        wav = wav.to(self.device, non_blocking=True)
        with self.autocast():
            wav_hat, codes, commit = self.gen_step(wav, n_q)
        out: dict[str, float] = {}
        use_adv = self.disc is not None and self.step >= lc.adv_start_step
        if use_adv:  # discriminator step on the detached resynthesis
            self.disc_step.train()
            with self.autocast():  # real and fake in one forward (one DDP forward per backward)
                both = self.disc_step(torch.cat([wav, wav_hat.detach()]))
            b = wav.shape[0]
            real = [[t[:b] for t in d] for d in both]
            fake = [[t[b:] for t in d] for d in both]
            d_loss = discriminator_loss([r[-1] for r in real], [f[-1] for f in fake], lc.adv_type)
            self.opt_d.zero_grad(set_to_none=True)
            d_loss.backward()
            torch.nn.utils.clip_grad_norm_(self.disc.parameters(), cfg.optim.grad_clip)
            self.opt_d.step()
            out["d_loss"] = d_loss.item()
        mel = self.mel_loss(wav_hat, wav)
        g_loss = lc.mel_weight * mel + lc.commit_weight * commit
        out["mel"], out["commit"] = mel.item(), commit.item()
        if lc.stft_weight > 0:
            stft = self.stft_loss(wav_hat, wav)
            g_loss = g_loss + lc.stft_weight * stft
            out["stft"] = stft.item()
        if use_adv:  # the discriminators themselves (no DDP, frozen): gradients reach wav_hat
            self.disc.requires_grad_(False)
            with self.autocast():
                fake = self.disc(wav_hat)
                with torch.no_grad():
                    real = self.disc(wav)
            self.disc.requires_grad_(True)
            adv = generator_adv_loss([f[-1] for f in fake], lc.adv_type)
            fm = feature_matching_loss([r[:-1] for r in real], [f[:-1] for f in fake])
            g_loss = g_loss + lc.adv_weight * adv + lc.feat_weight * fm
            out["adv"], out["feat"] = adv.item(), fm.item()
        self.opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        out["grad_norm"] = float(
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.optim.grad_clip)
        )
        self.opt_g.step()
        out["g_loss"] = g_loss.item()
        if self.env.ddp:  # the means over the ranks (= the global batch's: equal shares)
            summed = dist_util.all_reduce_sum(
                torch.tensor(list(out.values()), dtype=torch.float64), self.env
            )
            out = {k: float(v) / self.env.world_size for k, v in zip(out, summed)}
        self.step += 1
        c = codes.cpu().numpy()
        for i in range(c.shape[1]):  # usage only where this codebook was active
            used = c[(n_q > i).numpy(), i].reshape(-1)
            self.hist[i] += np.bincount(used, minlength=self.hist.shape[1])
        return out

    # --- checkpoints -------------------------------------------------------------------------
    def save(self, sampler: SegmentSampler | None) -> None:
        """Write ``checkpoint/`` (one directory swap), the ``codec/`` dir (weights, config and
        step, likewise) and a weight snapshot; a legacy ``checkpoint.pt`` is then removed."""
        from safetensors.torch import save_file

        assert self.exp_dir is not None
        with staged_dir(self.exp_dir / CHECKPOINT) as tmp:
            cio.save_tensors(tmp / "generator.safetensors", self.model.state_dict())
            cio.save_optimizer(tmp, "optimizer_g", self.opt_g, self._names(self.model))
            if self.disc is not None:
                cio.save_tensors(tmp / "discriminator.safetensors", self.disc.state_dict())
                cio.save_optimizer(tmp, "optimizer_d", self.opt_d, self._names(self.disc))
            rng = {
                "torch": torch.get_rng_state(),
                "quant": self.model.quantizer.gen.get_state(),
                "dropout": self.dropout_gen.get_state(),
            }
            cio.save_tensors(tmp / "rng.safetensors", rng)
            state = {"step": self.step, "sampler": sampler.state() if sampler else None}
            cio.write_json(tmp / "trainer.json", state)
        (self.exp_dir / LEGACY_CHECKPOINT).unlink(missing_ok=True)
        self.save_codec_dir()
        snaps = self.exp_dir / "snapshots"
        snaps.mkdir(exist_ok=True)
        weights = {k: v.detach().cpu().contiguous() for k, v in self.model.state_dict().items()}
        with atomic_path(snaps / f"step{self.step:08d}.safetensors") as tmp:
            save_file(weights, str(tmp))
        for old in sorted(snaps.glob("step*.safetensors"))[: -self.cfg.keep_snapshots]:
            old.unlink()

    @staticmethod
    def _names(module: torch.nn.Module) -> list[str]:
        return [n for n, _ in module.named_parameters()]

    def save_codec_dir(self) -> None:
        """``codec/``: the generator's weights, config and step, swapped in as one directory."""
        assert self.exp_dir is not None
        state = {"step": self.step, "saved": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())}
        save_codec(self.model, self.exp_dir / "codec", {"train_state.json": json.dumps(state)})

    def codec_dir_step(self) -> int | None:
        """The step of ``codec/`` (``None`` when it is missing or unreadable)."""
        assert self.exp_dir is not None
        try:
            return int(
                json.loads((self.exp_dir / "codec" / "train_state.json").read_text())["step"]
            )
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def load(self, path: Path, sampler: SegmentSampler | None) -> None:
        """Restore what :meth:`save` wrote (``path`` = ``checkpoint/``) or a legacy
        ``checkpoint.pt``; a checkpoint that cannot be read or does not fit is a one-line
        ValueError naming it."""
        import pickle

        try:
            state = self._read(path)
            self.model.load_state_dict(state["generator"])
            state["load_opt_g"]()
        except (
            cio.CheckpointError,
            pickle.UnpicklingError,  # a legacy checkpoint.pt with code in it (refused)
            EOFError,
            RuntimeError,
            KeyError,
            TypeError,
            ValueError,
            OSError,
        ) as e:
            raise ValueError(
                f"{path}: cannot resume from this checkpoint ({_why(e)}); use --no_resume to "
                "start over"
            ) from None
        if self.disc is not None and state.get("discriminator") is not None:
            try:
                self.disc.load_state_dict(state["discriminator"])
                state["load_opt_d"]()
            except (cio.CheckpointError, RuntimeError, ValueError) as e:
                # a discriminator that never trained (its optimiser never stepped: the run was
                # still in the warm-up) may change shape, e.g. when the GAN is switched on
                if state["opt_d_stepped"]:
                    raise ValueError(
                        f"{path}: discriminator does not match the config: {_why(e)}"
                    ) from None
                log.warning("%s: untrained discriminator changed shape; starting it afresh", path)
        torch.set_rng_state(state["rng"]["torch"])
        self.model.quantizer.gen.set_state(state["rng"]["quant"])
        self.dropout_gen.set_state(state["rng"]["dropout"])
        if sampler is not None and state["sampler"]:
            sampler.set_state(state["sampler"])
        self.step = int(state["step"])

    def _read(self, path: Path) -> dict:
        """The parts of a checkpoint (directory or legacy file) in one shape; optimiser states
        are loaded by the returned callables (they need this run's parameters)."""
        if path.is_dir():
            has_disc = (path / "discriminator.safetensors").is_file()
            train = cio.read_json(path / "trainer.json")
            return {
                "generator": cio.read_tensors(path / "generator.safetensors"),
                "load_opt_g": lambda: cio.load_optimizer(
                    path, "optimizer_g", self.opt_g, self._names(self.model)
                ),
                "discriminator": (
                    cio.read_tensors(path / "discriminator.safetensors") if has_disc else None
                ),
                "load_opt_d": lambda: cio.load_optimizer(
                    path, "optimizer_d", self.opt_d, self._names(self.disc)
                ),
                "opt_d_stepped": has_disc
                and bool(cio.read_tensors(path / "optimizer_d.safetensors")),
                "rng": cio.read_tensors(path / "rng.safetensors"),
                "step": train["step"],
                "sampler": train.get("sampler"),
            }
        # legacy checkpoint.pt; weights_only=True: a pickle with code in it is refused, never run
        old = torch.load(path, map_location="cpu", weights_only=True)
        return {
            "generator": old["model"],
            "load_opt_g": lambda: self.opt_g.load_state_dict(old["opt_g"]),
            "discriminator": old.get("disc"),
            "load_opt_d": lambda: self.opt_d.load_state_dict(old["opt_d"]),
            "opt_d_stepped": bool((old.get("opt_d") or {}).get("state")),
            "rng": {
                "torch": old["torch_rng"],
                "quant": old["quant_rng"],
                "dropout": old["dropout_rng"],
            },  # fmt: skip
            "step": old["step"],
            "sampler": json.loads(old["sampler"]) if old.get("sampler") else None,
        }

    # --- validation --------------------------------------------------------------------------
    @torch.no_grad()
    def validate(self, wavs: list[torch.Tensor]) -> dict[str, float]:
        """Mean multi-scale mel loss of the resynthesis with 1, 3 and all codebooks."""
        self.model.eval()
        out = {}
        for nq in sorted({1, min(3, self.model.num_codebooks), self.model.num_codebooks}):
            vals = []
            for w in wavs:
                x = self.model.pad_to_hop(w[None].to(self.device))
                hat, _, _ = self.model(x, nq)
                vals.append(self.mel_loss(hat, x).item())
            out[f"valid_mel_q{nq}"] = float(np.mean(vals))
        return out


PLOT_PANELS = {
    "mel loss": ("mel", "stft"),
    "GAN losses": ("g_loss", "d_loss", "adv", "feat"),
    "commitment": ("commit",),
    "validation mel (codebooks)": ("valid_mel_",),
    "fraction of codes used": ("used_cb",),
    "codebook perplexity": ("ppl_cb",),
}


def _why(e: Exception) -> str:
    """The first useful line of a load error (a refused pickle names what it refused)."""
    lines = [ln for ln in str(e).splitlines() if "WeightsUnpickler error:" in ln]
    why = lines[0].split("error:", 1)[1] if lines else (str(e).splitlines() or [""])[0]
    why = why.split(". Please")[0].split(". This is an internal")[0].strip()
    return why or type(e).__name__


def plot_losses(log_path: Path, png_path: Path) -> None:
    """Six panels of ``train_log.jsonl`` against the step (losses, validation, codebook use)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = {}
    for line in log_path.read_text().splitlines():
        if line.strip():
            r = json.loads(line)
            rows[r["step"]] = r  # a resumed run overwrites the steps it repeats
    if not rows:
        return
    steps = sorted(rows)
    keys = sorted({k for r in rows.values() for k in r})
    fig, axes = plt.subplots(2, 3, figsize=(13, 6))
    for ax, (title, prefixes) in zip(axes.flat, PLOT_PANELS.items()):
        for k in keys:
            if (
                k in prefixes
                or any(k.startswith(p) and p.endswith("_") for p in prefixes)
                or (any(p.endswith("cb") and k.startswith(p) for p in prefixes))
            ):
                xs = [s for s in steps if k in rows[s]]
                ax.plot(xs, [rows[s][k] for s in xs], label=k, lw=1)
        ax.set_title(title, fontsize=9)
        ax.tick_params(labelsize=7)
        if ax.lines and len(ax.lines) <= 8:
            ax.legend(fontsize=6)
    fig.subplots_adjust(hspace=0.35, wspace=0.25, left=0.05, right=0.98, top=0.94, bottom=0.06)
    with atomic_path(png_path) as tmp:
        fig.savefig(tmp, dpi=70, format="png")
    plt.close(fig)


def record_start(exp_dir: Path, step: int, command: str | None) -> None:
    """Append this (re)start to ``run_info.yaml`` (``+dirty``: the codec code has changes)."""
    provenance.record_start(exp_dir, step, command, ("espnet_codec_lm/codec",))


def train(
    cfg: CodecTrainConfig,
    exp_dir: str | Path,
    resume: bool = True,
    command: str | None = None,
    allow_config_change: bool = False,
) -> CodecTrainer:
    """Train until ``cfg.max_steps``, resuming from ``exp_dir/checkpoint/`` (or a legacy
    ``checkpoint.pt``) when present (a
    config that differs from the saved one beyond ``RESUME_MAY_CHANGE`` is refused unless
    ``allow_config_change``).

    Under ``torchrun --nproc_per_node N`` (gloo on CPU, nccl on CUDA) the generator and the
    discriminators are DDP replicas: every rank draws the same global batch
    (``data.batch_size``, divisible by N) and trains on its contiguous share, so N processes
    compute what one process does with the same batch; only rank 0 writes files."""
    env = dist_util.init_ddp(cfg.device)
    try:
        return _train(cfg, Path(exp_dir), resume, command, allow_config_change, env)
    finally:
        dist_util.shutdown(env)


def _train(
    cfg: CodecTrainConfig,
    exp_dir: Path,
    resume: bool,
    command: str | None,
    allow_config_change: bool,
    env: DistEnv,
) -> CodecTrainer:
    torch.set_num_threads(cfg.num_threads)
    if cfg.data.batch_size % env.world_size:
        raise ValueError(
            f"data.batch_size={cfg.data.batch_size} (the global batch) is not divisible by "
            f"the {env.world_size} processes"
        )
    main = env.is_main
    # rank 0 decides (a rank that looked later could see a checkpoint rank 0 is writing)
    found = find_checkpoint(exp_dir) if resume else None
    ckpt = dist_util.broadcast_object(str(found) if found else None, env)
    ckpt = Path(ckpt) if ckpt else None
    if ckpt is not None:  # before any audio is read
        check_resume_config(
            exp_dir / "config.yaml", cfg, RESUME_MAY_CHANGE, allow_config_change, log
        )
    if not cfg.data.train:
        raise ValueError("data.train is not set (a Kaldi data dir or wav.scp)")
    sr = cfg.model.sample_rate
    # all audio is read (and checked: NaN, truncated, empty...) before anything is written;
    # every rank holds it (each draws the global batch and keeps its share)
    audio = []
    for src in [cfg.data.train, *cfg.data.train_extra]:
        audio += [a for _, a in iter_audio(src, sr, cfg.data.max_utts)]
    log.info("training audio: %d utterances, %.2f h", len(audio), sum(map(len, audio)) / sr / 3600)
    valid = []
    if cfg.data.valid and main:
        for _, a in iter_audio(cfg.data.valid, sr, 8):
            valid.append(torch.from_numpy(a[: 3 * sr]))
    dist_util.barrier(env)  # every rank has checked the config before rank 0 rewrites it
    exp_dir.mkdir(parents=True, exist_ok=True)
    sampler = SegmentSampler(audio, cfg.data, sr, cfg.seed)
    trainer = CodecTrainer(cfg, exp_dir, env=env)
    log.info(
        "device %s, %s%s",
        trainer.device,
        "bf16 autocast" if trainer.bf16 else "fp32",
        f", DDP over {env.world_size} processes ({env.backend})" if env.ddp else "",
    )
    if ckpt is not None:
        trainer.load(ckpt, sampler)  # every rank reads the same checkpoint
        log.info("resumed from %s at step %d", ckpt, trainer.step)
        if main and trainer.codec_dir_step() != trainer.step:  # killed between the two
            log.info("%s: not of step %d; rewriting it", exp_dir / "codec", trainer.step)
            trainer.save_codec_dir()
    if main:
        dump_config(cfg, exp_dir / "config.yaml")  # the effective config of the latest (re)start
        record_start(exp_dir, trainer.step, command)
    n_params = sum(p.numel() for p in trainer.model.parameters())
    log.info("generator: %.2fM parameters", n_params / 1e6)
    from torch.utils.tensorboard import SummaryWriter

    tb = SummaryWriter(str(exp_dir / "tensorboard"), purge_step=trainer.step + 1) if main else None
    log_path = exp_dir / "train_log.jsonl"
    acc: dict[str, list[float]] = {}
    t_last_ckpt = t_log = time.time()
    bar = progress(total=cfg.max_steps, initial=trainer.step, desc="codec_train")
    # SIGTERM / SIGINT: finish the step, checkpoint, exit (a rerun resumes from there); under
    # torchrun the ranks agree after each step, so that they all stop at the same one
    stop = StopRequest()
    stopped = False
    while trainer.step < cfg.max_steps and not stopped:
        wav = torch.from_numpy(sampler.batch())
        for k, v in trainer.train_step(wav).items():
            acc.setdefault(k, []).append(v)
        stopped = stop.stopped
        if env.ddp:
            stopped = bool(dist_util.all_reduce_sum(torch.tensor([float(stopped)]), env) > 0)
        bar.update(1)
        step = trainer.step
        if step % cfg.log_every == 0:
            if env.ddp:  # codebook usage of the global batch
                trainer.hist[:] = dist_util.all_reduce_sum(torch.from_numpy(trainer.hist), env)
            if main:
                _log_row(trainer, acc, cfg, step, t_log, valid, tb, log_path)
            trainer.hist[:] = 0
            acc, t_log = {}, time.time()
        if time.time() - t_last_ckpt >= cfg.ckpt_every_s or step == cfg.max_steps or stopped:
            if main:
                trainer.save(sampler)
                plot_losses(log_path, exp_dir / "losses.png") if log_path.is_file() else None
                tb.flush()
            t_last_ckpt = time.time()
    bar.close()
    if tb is not None:
        tb.close()
    stop.restore()
    dist_util.barrier(env)  # the last checkpoint is written when any rank returns
    if stopped:
        log.info(
            "stopped by signal %s at step %d (checkpoint saved)",
            stop.signum if stop.stopped else "(on another rank)",
            trainer.step,
        )
    return trainer


def _log_row(
    trainer: CodecTrainer,
    acc: dict[str, list[float]],
    cfg: CodecTrainConfig,
    step: int,
    t_log: float,
    valid: list[torch.Tensor],
    tb,
    log_path: Path,
) -> None:
    """One line of ``train_log.jsonl`` (means since the last one), TensorBoard, the console."""
    row = {"step": step, "time": time.time(), "lr": trainer.lr()}
    row.update({k: float(np.mean(v)) for k, v in acc.items()})
    row["steps_per_s"] = cfg.log_every / max(1e-9, time.time() - t_log)
    for i, h in enumerate(trainer.hist):
        row[f"ppl_cb{i + 1}"], row[f"used_cb{i + 1}"] = codebook_usage(h)
    if valid and step % cfg.valid_every == 0:
        row.update(trainer.validate(valid))
    for k, v in row.items():
        if k not in ("step", "time"):
            tb.add_scalar(k, v, step)
    with open(log_path, "a") as f:  # append-only log; plot_losses dedups resumed steps
        f.write(json.dumps(row) + "\n")
    usage = " ".join(
        f"{row[f'used_cb{i + 1}']:.2f}/{row[f'ppl_cb{i + 1}']:.0f}"
        for i in range(len(trainer.hist))
    )
    extra = " ".join(f"{k}={row[k]:.3f}" for k in row if k.startswith("valid_"))
    log.info(
        "step %d mel %.3f g %.3f %s%.2f step/s | used/ppl %s %s",
        step,
        row["mel"],
        row["g_loss"],
        f"d {row['d_loss']:.3f} " if "d_loss" in row else "",
        row["steps_per_s"],
        usage,
        extra,
    )
