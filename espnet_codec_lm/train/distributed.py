"""Process group, device and model sharding: torchrun + FSDP2, with a plain single-process path.

The trainer runs unchanged as ``python -m espnet_codec_lm.bin.lm_train`` (one process, no process
group unless FSDP is asked for) and under ``torchrun --nproc_per_node N`` (gloo on CPU, nccl on
GPU). Sharding is PyTorch FSDP2 (``torch.distributed.fsdp.fully_shard``): each Transformer block
is its own FSDP unit (what ``transformers`` lists in ``_no_split_modules``), the root module holds
the embeddings and heads. FSDP2 runs on CPU with gloo in torch 2.13 (verified by the 2-process
test), so the same code path is tested here and used on GPUs. On GPU the parameters stay fp32
(the optimiser's master copy) and FSDP casts them to bf16 for compute
(``MixedPrecisionPolicy(param_dtype=bf16, reduce_dtype=fp32)``); gradients are reduced in fp32.
The process group, ``DistEnv`` and the collectives live in ``utils/distributed.py`` (the codec
trainer uses them too, with DistributedDataParallel) and are importable from here as before.
"""

from __future__ import annotations

import contextlib
import logging

import torch

from espnet_codec_lm.train.config import DistConfig
from espnet_codec_lm.utils.distributed import (  # noqa: F401  (the trainer's names for them)
    DistEnv,
    all_gather_rows,
    all_reduce_sum,
    barrier,
    broadcast_object,
    pick_device,
    shutdown,
    start_group,
    torchrun_ranks,
)

log = logging.getLogger(__name__)


def init_distributed(cfg: DistConfig) -> DistEnv:
    """Read torchrun's environment (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``), pick the device,
    and start the process group when one is needed."""
    rank, world, local_rank = torchrun_ranks()
    device = pick_device("auto", local_rank)
    cuda = device.type == "cuda"
    fsdp = cfg.fsdp if cfg.fsdp is not None else (world > 1 or cuda)
    if world > 1 and not fsdp:
        raise ValueError("dist.fsdp=false with several processes: only FSDP2 is supported")
    bf16 = {"bf16": True, "fp32": False, "auto": cuda}[cfg.precision]
    backend = None
    owns = False
    if fsdp:
        backend, owns = start_group(cfg.backend, device)
    return DistEnv(rank, world, local_rank, device, backend, fsdp, bf16, owns)


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
            if hasattr(m, "activation_checkpointing_enable"):  # transformers >= 5.x
                m.activation_checkpointing_enable({"use_reentrant": False})
            else:  # the name before (deprecated in 5.x, gone in 6)
                m.gradient_checkpointing_enable(
                    gradient_checkpointing_kwargs={"use_reentrant": False}
                )
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
