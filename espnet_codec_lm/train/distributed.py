"""Process group, device and model sharding: torchrun + FSDP2, with a plain single-process path.

The codec trainer (codec/trainer.py) starts its process group here too (``ddp=True``) and
replicates its generator and discriminators with DistributedDataParallel instead of sharding.

The trainer runs unchanged as ``python -m espnet_codec_lm.bin.lm_train`` (one process, no process
group unless FSDP is asked for) and under ``torchrun --nproc_per_node N`` (gloo on CPU, nccl on
GPU). Sharding is PyTorch FSDP2 (``torch.distributed.fsdp.fully_shard``): each Transformer block
is its own FSDP unit (what ``transformers`` lists in ``_no_split_modules``), the root module holds
the embeddings and heads. FSDP2 runs on CPU with gloo in torch 2.13 (verified by the 2-process
test), so the same code path is tested here and used on GPUs. On GPU the parameters stay fp32
(the optimiser's master copy) and FSDP casts them to bf16 for compute
(``MixedPrecisionPolicy(param_dtype=bf16, reduce_dtype=fp32)``); gradients are reduced in fp32.
"""

from __future__ import annotations

import contextlib
import datetime
import logging
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from espnet_codec_lm.train.config import DistConfig

log = logging.getLogger(__name__)


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


def init_distributed(cfg: DistConfig, device: str = "auto", ddp: bool = False) -> DistEnv:
    """Read torchrun's environment (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``), pick the device,
    and start the process group when one is needed.

    ``device``: ``auto`` (CUDA when available), ``cpu`` or ``cuda`` (an error without CUDA).
    ``ddp``: the caller replicates its modules with DistributedDataParallel (the codec trainer):
    never FSDP, a process group only when there are several processes."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device=cuda but CUDA is not available (use device=auto or cpu)")
    cuda = torch.cuda.is_available() and device != "cpu"
    device = torch.device("cuda", local_rank) if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(device)
    if ddp:
        fsdp = False
    else:
        fsdp = cfg.fsdp if cfg.fsdp is not None else (world > 1 or cuda)
    if world > 1 and not fsdp and not ddp:
        raise ValueError("dist.fsdp=false with several processes: only FSDP2 is supported")
    bf16 = {"bf16": True, "fp32": False, "auto": cuda}[cfg.precision]
    backend = None
    owns = False
    if fsdp or (ddp and world > 1):
        backend = cfg.backend if cfg.backend != "auto" else ("nccl" if cuda else "gloo")
        if not dist.is_initialized():
            timeout = datetime.timedelta(minutes=30)
            if "MASTER_ADDR" in os.environ:
                dist.init_process_group(
                    backend, timeout=timeout, device_id=device if cuda else None
                )
            else:  # a plain single process that still wants FSDP (e.g. bf16 on one GPU)
                dist.init_process_group(
                    backend, store=dist.HashStore(), rank=0, world_size=1, timeout=timeout
                )
            owns = True
    return DistEnv(rank, world, local_rank, device, backend, fsdp, bf16, owns, ddp and world > 1)


def shutdown(env: DistEnv) -> None:
    """Destroy the process group if :func:`init_distributed` created it."""
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


def _blocks(model: torch.nn.Module) -> list[torch.nn.Module]:
    """Transformer blocks to shard one by one: ``model.fsdp_blocks()`` if the model says, else
    every submodule whose class is named in a ``transformers`` ``_no_split_modules`` list."""
    if hasattr(model, "fsdp_blocks"):
        return list(model.fsdp_blocks())
    names: set[str] = set()
    for m in model.modules():
        names.update(getattr(m, "_no_split_modules", None) or [])
    return [m for m in model.modules() if type(m).__name__ in names]


def enable_activation_checkpointing(model: torch.nn.Module) -> int:
    """Recompute each block's activations in backward (``transformers``' own mechanism, which
    keeps parameter names unchanged). Returns how many submodules were switched."""
    from transformers import PreTrainedModel

    n = 0
    for m in model.modules():
        if isinstance(m, PreTrainedModel) and m.supports_gradient_checkpointing:
            m.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
            n += 1
            break  # the outermost one covers its children
    if n == 0:
        raise ValueError("activation_checkpointing: the model has no transformers backbone")
    return n


def wrap_model(model: torch.nn.Module, env: DistEnv, cfg: DistConfig) -> torch.nn.Module:
    """Move ``model`` to the device and shard it with FSDP2 when ``env.fsdp``."""
    if cfg.activation_checkpointing:
        enable_activation_checkpointing(model)
    if not env.fsdp:
        return model.to(env.device)
    from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

    mp = (
        MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32)
        if env.bf16
        else MixedPrecisionPolicy()
    )
    model = model.to(env.device)
    blocks = _blocks(model)
    for block in blocks:
        fully_shard(block, mp_policy=mp)
    fully_shard(model, mp_policy=mp)
    log.info("FSDP2: %d blocks + root sharded over %d ranks", len(blocks), env.world_size)
    return model


def autocast(env: DistEnv):
    """bf16 autocast for the unsharded GPU path (FSDP2 casts by itself)."""
    if env.bf16 and not env.fsdp:
        return torch.autocast(env.device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def set_grad_sync(model: torch.nn.Module, env: DistEnv, sync: bool) -> None:
    """Skip FSDP's reduce-scatter on all but the last micro-batch of an accumulation."""
    if env.fsdp and hasattr(model, "set_requires_gradient_sync"):
        model.set_requires_gradient_sync(sync)
