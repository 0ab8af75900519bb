"""Assemble a training run from an :class:`LMTrainConfig`: model, data, text monitor, trainer.

The ``model:`` section is a :class:`espnet_codec_lm.lm.config.SpeechLMConfig` (init modes
none / text_llm / a checkpoint of ours); ``data:`` chooses the pipeline by ``kind``:
``synthetic`` (:class:`SyntheticDataConfig`, tests and benchmarks), ``tasks`` (the CPT mixture
or an SFT task from :mod:`espnet_codec_lm.tasks`) or ``shards`` (the CPT mixture with its speech
streamed from shards, :mod:`espnet_codec_lm.tasks.streaming`).

Checkpoints hold the model as a complete SpeechLM checkpoint directory (``step_X/model/``, the
format of ``SpeechLM.save_pretrained``, with the text tokenizer), so ``model.init`` of an SFT run
and the decoder can point at it; at the end the final one is also linked to ``<exp>/model``.
"""

from __future__ import annotations

import logging
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import torch

from espnet_codec_lm.config import ConfigError, config_from_dict
from espnet_codec_lm.dual.config import DualConfig
from espnet_codec_lm.dual.data import build_dual_sources
from espnet_codec_lm.dual.model import DualSpeechLM, is_dual_checkpoint
from espnet_codec_lm.lm.build import build_speech_lm
from espnet_codec_lm.lm.config import SpeechLMConfig
from espnet_codec_lm.lm.model import SpeechLM
from espnet_codec_lm.tasks.corpus import SpeechSetConfig
from espnet_codec_lm.tasks.dataset import build_sources
from espnet_codec_lm.tasks.sequence import BuildConfig
from espnet_codec_lm.tasks.streaming import build_stream_sources
from espnet_codec_lm.train.config import DATA_KINDS, LMTrainConfig
from espnet_codec_lm.train.data import SyntheticSource, SyntheticValid
from espnet_codec_lm.train.decode_monitor import DecodeMonitor
from espnet_codec_lm.train.distributed import DistEnv
from espnet_codec_lm.train.evaluate import read_heldout_lines, text_ppl_batches
from espnet_codec_lm.train.trainer import TextEval, Trainer
from espnet_codec_lm.utils.seed import set_seed

log = logging.getLogger(__name__)

MODEL_SUBDIR = "model"


@dataclass
class SyntheticDataConfig:
    """Random packed rows (see :class:`SyntheticSource`); ``max_len`` is ``batch.max_len``."""

    kind: Literal["synthetic"] = "synthetic"
    epoch_size: int = 64  # global micro-batches per epoch
    min_example: int = 8
    max_example: int = 64
    valid_batches: int = 4


@dataclass
class ModelBundle:
    """The model plus what the trainer needs to save and reload it."""

    model: torch.nn.Module
    tokenizer: Any
    layout: Any  # VocabLayout
    num_heads: int
    config: Any  # the Qwen2Config with the extended vocabulary
    meta: dict

    def writer(self, state: dict[str, torch.Tensor], directory: Path) -> None:
        """Full state dict -> ``directory/model`` via ``SpeechLM.save_pretrained``. The weights
        are assigned into a meta-device skeleton, so no second initialisation runs."""
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # no "Writing model shards" bar in the training log
        with torch.device("meta"):
            skeleton = SpeechLM(self.config, self.layout)
        skeleton.load_state_dict(state, strict=True, assign=True)
        if getattr(self.config, "tie_word_embeddings", False):
            skeleton.lm.tie_weights()
        skeleton.meta = dict(self.meta)
        skeleton.save_pretrained(directory / MODEL_SUBDIR, tokenizer=self.tokenizer)

    def reader(self, directory: Path) -> dict[str, torch.Tensor]:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()

        return SpeechLM.from_pretrained(directory / MODEL_SUBDIR, dtype=torch.float32).state_dict()


class DualBundle(ModelBundle):
    """A DualSpeechLM's bundle: saved and loaded with its acoustic decoder."""

    def writer(self, state: dict[str, torch.Tensor], directory: Path) -> None:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        with torch.device("meta"):
            skeleton = DualSpeechLM(SpeechLM(self.config, self.layout), self.dual_cfg)
        skeleton.load_state_dict(state, strict=True, assign=True)
        if getattr(self.config, "tie_word_embeddings", False):
            skeleton.llm.lm.tie_weights()
        skeleton.meta = dict(self.meta)
        skeleton.save_pretrained(directory / MODEL_SUBDIR, tokenizer=self.tokenizer)

    def reader(self, directory: Path) -> dict[str, torch.Tensor]:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        path = directory / MODEL_SUBDIR
        return DualSpeechLM.from_pretrained(path, dtype=torch.float32).state_dict()


def build_model(cfg: LMTrainConfig) -> ModelBundle:
    """The SpeechLM of ``cfg.model`` in fp32 (FSDP casts to bf16 for compute on GPU); with a
    ``model.dual`` section, a DualSpeechLM around it (its acoustic decoder from ``init`` when
    that is a DualSpeechLM checkpoint, else new)."""

    section = dict(cfg.model)
    dual = section.pop("dual", None)
    mcfg = config_from_dict(SpeechLMConfig, section, "model")
    model, tokenizer = build_speech_lm(mcfg)
    if dual is not None:
        dcfg = config_from_dict(DualConfig, dual, "model.dual")
        if mcfg.init_mode == "checkpoint" and is_dual_checkpoint(mcfg.init):
            loaded = DualSpeechLM.from_pretrained(mcfg.init, dtype=torch.float32)
            if asdict(loaded.dual_cfg) != asdict(dcfg):
                raise ConfigError(
                    f"model.dual differs from the one of the checkpoint {mcfg.init} (dual.json)"
                )
            model = DualSpeechLM(model, dcfg)
            model.acoustic.load_state_dict(loaded.acoustic.state_dict())
        else:
            model = DualSpeechLM(model, dcfg)
        model = model.cast_parameters(torch.float32)
        bundle = DualBundle(
            model, tokenizer, model.layout, model.num_heads, model.config, dict(model.meta)
        )
        bundle.dual_cfg = dcfg
        return bundle
    # fp32 master weights whatever model.dtype says (FSDP casts to bf16 for compute on GPU);
    # cast_parameters keeps the RoPE buffers as they are
    model = model.cast_parameters(torch.float32)
    return ModelBundle(
        model, tokenizer, model.layout, model.num_streams, model.config, dict(model.meta)
    )


def build_data(cfg: LMTrainConfig, bundle: ModelBundle, env: DistEnv):
    """``(train_source, valid_source)`` for this rank."""
    kind = cfg.data.get("kind", "synthetic")
    if kind == "synthetic":
        dcfg = config_from_dict(SyntheticDataConfig, cfg.data, "data")
        src = SyntheticSource(
            bundle.layout,
            cfg.batch.micro_batch,
            cfg.batch.max_len,
            seed=cfg.seed,
            rank=env.rank,
            world_size=env.world_size,
            epoch_size=dcfg.epoch_size,
            min_example=dcfg.min_example,
            max_example=dcfg.max_example,
        )
        return src, SyntheticValid(src, dcfg.valid_batches)
    if kind in ("tasks", "shards"):
        # these numbers are set once, in the trainer's own sections
        owned = {
            "stage": cfg.stage,
            "seed": cfg.seed,
            "max_len": cfg.batch.max_len,
            "batch_size": cfg.batch.micro_batch,
            "batch_positions": 0,
        }
        for key, value in owned.items():
            if key in cfg.data and cfg.data[key] != value:
                raise ConfigError(
                    f"data.{key}={cfg.data[key]!r} conflicts with the trainer's {value!r} "
                    "(set stage/seed at the top level and batch.max_len / batch.micro_batch)"
                )
        if "align_tasks" in cfg.data:
            raise ConfigError("data.align_tasks is set from guided_attention.tasks, not in data")
        ga = cfg.guided_attention
        owned["align_tasks"] = list(ga.tasks) if ga.enabled else []
        if kind == "shards":
            if isinstance(bundle, DualBundle):
                raise ConfigError("data.kind shards: not for a DualSpeechLM (use data.kind tasks)")
            return build_stream_sources(
                cfg.data, bundle.layout, bundle.tokenizer, env.rank, env.world_size, **owned
            )
        if isinstance(bundle, DualBundle):
            return build_dual_sources(
                cfg.data, bundle.layout, bundle.tokenizer, bundle.dual_cfg.acoustic_streams,
                bundle.dual_cfg.acoustic_codebook_size, bundle.dual_cfg.coc_train,
                env.rank, env.world_size, **owned,
            )  # fmt: skip
        return build_sources(
            cfg.data, bundle.layout, bundle.tokenizer, env.rank, env.world_size, **owned
        )
    raise ValueError(f"data.kind {kind!r} is not one of {DATA_KINDS}")


def build_text_eval(cfg: LMTrainConfig, bundle: ModelBundle, env: DistEnv) -> TextEval | None:
    ec = cfg.eval
    if not ec.text_ppl_file:
        return None
    lay = bundle.layout
    batches, tokens = text_ppl_batches(
        read_heldout_lines(ec.text_ppl_file),
        bundle.tokenizer.encode,
        lay.num_streams,
        cfg.batch.micro_batch,
        cfg.batch.max_len,
        ec.text_ppl_max_tokens,
        rank=env.rank,
        world_size=env.world_size,
        prefix=[lay.text_start] if ec.text_ppl_segment else [],
    )
    if tokens == 0:
        raise ValueError(f"{ec.text_ppl_file}: no held-out text with at least two tokens")
    return TextEval(ec.text_ppl_file, batches, tokens, lay.text_rows)


def build_trainer(
    cfg: LMTrainConfig,
    exp_dir: str | Path,
    env: DistEnv,
    resume: bool = True,
    allow_config_change: bool = False,
) -> Trainer:
    """Everything for :meth:`Trainer.fit`. The model is initialised identically on every rank
    (FSDP keeps each rank's shard of the same full tensor)."""

    set_seed(cfg.seed)
    bundle = build_model(cfg)
    train, valid = build_data(cfg, bundle, env)
    text_eval = build_text_eval(cfg, bundle, env)
    trainer = Trainer(
        cfg,
        exp_dir,
        bundle.model,
        bundle.num_heads,
        train,
        env,
        valid=valid,
        text_eval=text_eval,
        model_writer=bundle.writer,
        model_reader=bundle.reader,
        resume=resume,
        allow_config_change=allow_config_change,
    )
    trainer.bundle = bundle
    trainer.decode_monitor = build_decode_monitor(cfg, bundle)
    return trainer


def build_decode_monitor(cfg: LMTrainConfig, bundle: ModelBundle):
    """The decoded-output monitor of ``eval.decode_*`` (None when off or without dev speech)."""
    ec = cfg.eval
    if ec.decode_every_steps is None:
        return None
    if cfg.data.get("kind") not in ("tasks", "shards") or not cfg.data.get("valid_speech_sets"):
        raise ConfigError(
            "eval.decode_every_steps needs data.kind: tasks (or shards) and valid_speech_sets"
        )

    sets = [
        config_from_dict(SpeechSetConfig, s, "data.valid_speech_sets")
        for s in cfg.data["valid_speech_sets"]
    ]

    build = config_from_dict(BuildConfig, cfg.data.get("build") or {}, "data.build")
    return DecodeMonitor.from_data(
        sets,
        list(ec.decode_tasks),
        bundle.layout,
        bundle.tokenizer,
        ec.decode_utts,
        ec.decode_prompt_index,
        build=build,
        prompt_dir=cfg.data.get("prompt_dir"),
    )


def link_final_model(exp_dir: str | Path, ckpt: Path) -> Path:
    """``<exp>/model`` = the final checkpoint's model directory (hard links, so pruning old
    checkpoints never breaks it), replaced atomically."""
    exp_dir = Path(exp_dir)
    src = ckpt / MODEL_SUBDIR
    dst = exp_dir / MODEL_SUBDIR
    tmp = exp_dir / f".{MODEL_SUBDIR}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(src, tmp, copy_function=_link_or_copy)
    old = exp_dir / f".{MODEL_SUBDIR}.old-{os.getpid()}"
    if dst.exists():
        os.replace(dst, old)
    os.replace(tmp, dst)
    shutil.rmtree(old, ignore_errors=True)
    return dst


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)
