"""Where a process sits under torchrun, its process group and the collectives the trainers use.

Shared by the LM trainer (``train/distributed.py``: FSDP2 on top of this) and the codec trainer
(``codec/trainer.py``: DistributedDataParallel). It depends on torch only, so that both can
import it (codec/ sits below train/ in the package graph, doc/design.md). Without a process
group every collective here is a no-op, so single-process code calls them unconditionally.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

#: how long a collective may wait for the other ranks (a slow checkpoint on rank 0, say)
TIMEOUT = datetime.timedelta(minutes=30)


@dataclass
class DistEnv:
    """Where this process sits: rank, world size, device, and whether FSDP/bf16 are used."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")
    backend: str | None = None  # None: no process group
    fsdp: bool = False
    bf16: bool = False
    owns_group: bool = False  # we initialised the process group (so we tear it down)
    ddp: bool = False  # several processes, the caller wraps its modules in DDP (codec trainer)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.backend is not None


def torchrun_ranks() -> tuple[int, int, int]:
    """``(rank, world size, local rank)`` from torchrun's environment (0, 1, 0 without it)."""
    return (
        int(os.environ.get("RANK", "0")),
        int(os.environ.get("WORLD_SIZE", "1")),
        int(os.environ.get("LOCAL_RANK", "0")),
    )


def pick_device(name: str, local_rank: int) -> torch.device:
    """``auto`` (CUDA when available), ``cpu`` or ``cuda`` (an error without CUDA) ->
    ``cuda:<local_rank>`` (made the current device) or ``cpu``."""
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("device=cuda but CUDA is not available (use device=auto or cpu)")
    if name == "cpu" or not torch.cuda.is_available():
        return torch.device("cpu")
    device = torch.device("cuda", local_rank)
    torch.cuda.set_device(device)
    return device


def start_group(backend: str, device: torch.device) -> tuple[str, bool]:
    """Start the default process group (``backend``: ``auto`` = nccl on CUDA, gloo on CPU)
    unless one exists: from torchrun's ``MASTER_ADDR`` or, without it, a one-process group.
    Returns the backend and whether this call created the group."""
    cuda = device.type == "cuda"
    backend = backend if backend != "auto" else ("nccl" if cuda else "gloo")
    if dist.is_initialized():
        return backend, False
    if "MASTER_ADDR" in os.environ:
        dist.init_process_group(backend, timeout=TIMEOUT, device_id=device if cuda else None)
    else:  # a plain single process that still wants a group (e.g. FSDP on one GPU)
        dist.init_process_group(
            backend, store=dist.HashStore(), rank=0, world_size=1, timeout=TIMEOUT
        )
    return backend, True


def init_ddp(device: str = "auto", backend: str = "auto") -> DistEnv:
    """The codec trainer's environment: the device of this rank and, with several processes, a
    process group for DistributedDataParallel (none for one process)."""
    rank, world, local_rank = torchrun_ranks()
    dev = pick_device(device, local_rank)
    if world == 1:
        return DistEnv(rank, world, local_rank, dev)
    name, owns = start_group(backend, dev)
    return DistEnv(rank, world, local_rank, dev, name, owns_group=owns, ddp=True)


def shutdown(env: DistEnv) -> None:
    """Destroy the process group if this process created it."""
    if env.owns_group and dist.is_initialized():
        dist.destroy_process_group()


def barrier(env: DistEnv) -> None:
    if env.distributed:
        dist.barrier()


def all_reduce_sum(t: torch.Tensor, env: DistEnv) -> torch.Tensor:
    """Sum ``t`` over ranks (returned; ``t`` is not modified). No-op without a group."""
    if not env.distributed:
        return t
    out = t.detach().clone().to(env.device if env.backend == "nccl" else "cpu")
    dist.all_reduce(out, op=dist.ReduceOp.SUM)
    return out.to(t.device)


def all_gather_rows(t: torch.Tensor, env: DistEnv) -> torch.Tensor:
    """The rows of ``t [n, ...]`` of every rank, concatenated in rank order (``n`` may differ
    between ranks; the other dimensions and the dtype may not). No-op without a group."""
    if not env.distributed:
        return t
    dev = env.device if env.backend == "nccl" else torch.device("cpu")
    x = t.detach().to(dev)
    n = torch.tensor([x.shape[0]], device=dev)
    sizes = [torch.zeros_like(n) for _ in range(env.world_size)]
    dist.all_gather(sizes, n)
    counts = [int(c) for c in sizes]
    padded = x.new_zeros((max(counts), *x.shape[1:]))
    padded[: x.shape[0]] = x
    out = [torch.empty_like(padded) for _ in counts]
    dist.all_gather(out, padded)
    return torch.cat([o[:c] for o, c in zip(out, counts)]).to(t.device)


def broadcast_object(obj, env: DistEnv):
    """Rank 0's small Python object on every rank (JSON-like data only)."""
    if not env.distributed:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]
