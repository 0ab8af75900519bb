"""Atomic, pickle-free training checkpoints with exact resume.

Layout of ``<exp>/checkpoints/``::

    step_00001000/
        model.safetensors        full (unsharded) weights, gathered on rank 0 (+ whatever the
                                 model's own ``save`` hook writes: config, vocabulary layout)
        optimizer.safetensors    AdamW moments by parameter name (``<param>/exp_avg`` ...)
        optimizer.json           param groups (settings, parameter names) and non-tensor entries
        trainer.json             step, scheduler, world size, tokens seen, ...
        rank<r>.json             per rank: data-iterator position and RNG states
    latest                       text file naming the newest complete step directory

Atomicity: everything is written into ``.tmp-step_XXXXXXXX/`` (files fsynced), then the directory
is renamed (one atomic ``rename``) and only then is ``latest`` replaced (``atomic_write_text``).
A crash at any point leaves ``latest`` naming a complete checkpoint; stale ``.tmp-*`` directories
are removed at the next start. Old checkpoints beyond ``keep_last`` are deleted after ``latest``
moves on. Nothing is unpickled on load: tensors come from safetensors, the rest from JSON.

Why full state dicts on rank 0 rather than sharded DCP files: the checkpoint is directly a model
other stages can load, any world size can resume it, and torch.distributed.checkpoint's own
reader unpickles its ``.metadata`` file. The cost is gathering the model (+ optimiser) on one
host, ~7.5 GB of CPU memory for the 0.6B paper model; see doc/training.md.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import torch

from espnet_codec_lm.train.distributed import DistEnv, barrier, broadcast_object
from espnet_codec_lm.utils import checkpoint_io as cio
from espnet_codec_lm.utils.checkpoint_io import CheckpointError
from espnet_codec_lm.utils.fileio import atomic_write_text, umask_modes

log = logging.getLogger(__name__)

_STEP_RE = re.compile(r"^step_(\d{8})$")
LATEST = "latest"


def _options(env: DistEnv, loading: bool):
    from torch.distributed.checkpoint.state_dict import StateDictOptions

    return StateDictOptions(
        full_state_dict=True,
        cpu_offload=True,
        broadcast_from_rank0=loading and env.distributed,
    )


def save_model_weights(state: dict[str, torch.Tensor], directory: Path) -> None:
    """Default model writer: ``model.safetensors`` only."""
    cio.save_tensors(directory / "model.safetensors", state)


def load_model_weights(directory: Path) -> dict[str, torch.Tensor]:
    """Default model reader (inverse of :func:`save_model_weights`)."""
    return cio.read_tensors(directory / "model.safetensors")


class CheckpointManager:
    """Saves and restores the full training state under ``root`` (see the module docstring)."""

    def __init__(
        self,
        root: str | Path,
        env: DistEnv,
        keep_last: int = 3,
        model_writer: Callable[[dict[str, torch.Tensor], Path], None] = save_model_weights,
        model_reader: Callable[[Path], dict[str, torch.Tensor]] = load_model_weights,
    ) -> None:
        self.root = Path(root)
        self.env = env
        self.keep_last = keep_last
        self.model_writer = model_writer
        self.model_reader = model_reader
        if env.is_main:
            self.root.mkdir(parents=True, exist_ok=True)
            for stale in self.root.glob(".tmp-*"):
                log.warning("removing incomplete checkpoint %s", stale)
                shutil.rmtree(stale, ignore_errors=True)
        barrier(env)

    # --- queries ------------------------------------------------------------------------
    def latest(self) -> Path | None:
        """The checkpoint ``latest`` names, or None when there is none yet."""
        p = self.root / LATEST
        if not p.is_file():
            return None
        name = p.read_text(encoding="utf-8").strip()
        ckpt = self.root / name
        if not _STEP_RE.match(name) or not (ckpt / "trainer.json").is_file():
            raise CheckpointError(f"{p}: names '{name}', which is not a complete checkpoint")
        return ckpt

    def steps(self) -> list[int]:
        return sorted(int(m.group(1)) for d in self.root.iterdir() if (m := _STEP_RE.match(d.name)))

    @staticmethod
    def dirname(step: int) -> str:
        return f"step_{step:08d}"

    # --- save ---------------------------------------------------------------------------
    def save(
        self,
        step: int,
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        trainer_state: dict,
        rank_state: dict,
    ) -> Path:
        """Write a checkpoint for ``step`` (collective: every rank calls it)."""
        from torch.distributed.checkpoint.state_dict import (
            get_model_state_dict,
            get_optimizer_state_dict,
        )

        final = self.root / self.dirname(step)
        tmp = self.root / f".tmp-{self.dirname(step)}"
        exists = broadcast_object(final.is_dir() if self.env.is_main else None, self.env)
        if exists:  # a resumed run reached a step saved before the crash: identical state
            if self.env.is_main:
                atomic_write_text(self.root / LATEST, final.name + "\n")
            barrier(self.env)
            return final
        if self.env.is_main:
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
        barrier(self.env)
        opts = _options(self.env, loading=False)
        model_sd = get_model_state_dict(model, options=opts)  # collective; {} off rank 0
        optim_sd = get_optimizer_state_dict(model, optimizer, options=opts)
        cio.write_json(tmp / f"rank{self.env.rank}.json", rank_state)
        if self.env.is_main:
            self.model_writer(model_sd, tmp)
            tensors, other = cio.flatten_optim(optim_sd)
            cio.save_tensors(tmp / "optimizer.safetensors", tensors)
            cio.write_json(tmp / "optimizer.json", other)
            cio.write_json(
                tmp / "trainer.json", {**trainer_state, "world_size": self.env.world_size}
            )
        del model_sd, optim_sd
        barrier(self.env)  # every rank's file is in place before the rename
        if self.env.is_main:
            umask_modes(tmp)  # safetensors writes 0600: keep the umask's mode
            cio.fsync_dir(tmp)
            os.rename(tmp, final)
            cio.fsync_dir(self.root)
            atomic_write_text(self.root / LATEST, final.name + "\n")
            self._prune(keep=final.name)
            log.info("checkpoint saved: %s", final)
        barrier(self.env)
        return final

    def _prune(self, keep: str) -> None:
        steps = self.steps()
        for s in steps[: max(0, len(steps) - self.keep_last)]:
            name = self.dirname(s)
            if name != keep:
                shutil.rmtree(self.root / name, ignore_errors=True)

    # --- load ---------------------------------------------------------------------------
    def load(
        self, ckpt: Path, model: torch.nn.Module, optimizer: torch.optim.Optimizer
    ) -> tuple[dict, dict]:
        """Restore model and optimiser in place; returns ``(trainer_state, rank_state)``."""
        from torch.distributed.checkpoint.state_dict import (
            set_model_state_dict,
            set_optimizer_state_dict,
        )

        trainer_state = cio.read_json(ckpt / "trainer.json")
        saved_world = trainer_state.get("world_size")
        if saved_world != self.env.world_size:
            raise CheckpointError(
                f"{ckpt}: saved with {saved_world} processes, resuming with "
                f"{self.env.world_size} (the data position is per rank; use the same count)"
            )
        rank_state = cio.read_json(ckpt / f"rank{self.env.rank}.json")
        opts = _options(self.env, loading=True)
        main = self.env.is_main
        # rank 0 reads every file first and tells the others whether that worked, so a bad
        # file is one error on every rank instead of ranks waiting forever in a collective
        model_sd: dict = {}
        optim_sd: dict = {}
        error = None
        if main:
            try:
                model_sd = self.model_reader(ckpt)
                tensors = cio.read_tensors(ckpt / "optimizer.safetensors")
                try:
                    optim_sd = cio.unflatten_optim(tensors, cio.read_json(ckpt / "optimizer.json"))
                except (KeyError, ValueError, TypeError) as e:
                    if isinstance(e, CheckpointError):
                        raise
                    raise CheckpointError(f"{ckpt}/optimizer.json: malformed ({e})") from None
            except ValueError as e:
                error = str(e)
        error = broadcast_object(error, self.env)
        if error is not None:
            raise CheckpointError(error)
        try:
            set_model_state_dict(model, model_sd, options=opts)
        except (RuntimeError, KeyError) as e:
            msg = str(e).splitlines()[0]
            raise CheckpointError(f"{ckpt}: model weights do not fit this model ({msg})") from None
        del model_sd
        # saved before the first step: no moments yet, nothing to restore
        has_state = broadcast_object(bool(optim_sd.get("state")) if main else None, self.env)
        if has_state:
            try:
                set_optimizer_state_dict(model, optimizer, optim_sd, options=opts)
            except (RuntimeError, KeyError, ValueError) as e:
                msg = str(e).splitlines()[0] if str(e) else type(e).__name__
                raise CheckpointError(
                    f"{ckpt}: optimizer state does not fit this model ({msg})"
                ) from None
        barrier(self.env)
        log.info("resumed from %s (step %s)", ckpt, trainer_state.get("step"))
        return trainer_state, rank_state
