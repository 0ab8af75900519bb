"""Configuration of the LM trainer (CPT and SFT share it; only the data section differs).

Batch arithmetic: a step consumes ``batch.global_sequences`` packed rows of ``batch.max_len``
positions. Each rank runs ``micro_batch`` rows per forward, so the gradient-accumulation count is
``global_sequences / (micro_batch * world_size)`` and must be a whole number (checked at start).
The paper's CPT: 640 x 4,096 positions per step, 40k steps, AdamW, peak LR 1e-5 -> 1e-6, clip 1.0.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Optional

from espnet_codec_lm.config import ConfigError, config_from_dict
from espnet_codec_lm.dual.config import DualConfig
from espnet_codec_lm.dual.data import AcousticDataConfig
from espnet_codec_lm.lm.config import SpeechLMConfig
from espnet_codec_lm.metrics.paper import OTHER_SYSTEMS, SYSTEMS
from espnet_codec_lm.tasks.dataset import DataConfig
from espnet_codec_lm.tasks.streaming import StreamDataConfig, check_stream_config

SYSTEM_NAMES = SYSTEMS + OTHER_SYSTEMS
DATA_KINDS = ["synthetic", "tasks", "shards"]


@dataclass
class OptimConfig:
    """AdamW with linear warm-up then decay from ``lr`` (peak) to ``min_lr``."""

    lr: float = 1e-5
    min_lr: float = 1e-6
    warmup_steps: int = 500
    decay: Literal["cosine", "linear", "constant"] = "cosine"
    weight_decay: float = 0.1
    betas: list[float] = field(default_factory=lambda: [0.9, 0.95])
    eps: float = 1e-8
    grad_clip: float = 1.0


@dataclass
class BatchConfig:
    """Global batch in packed rows; ``micro_batch`` rows per rank per forward pass."""

    global_sequences: int = 640
    micro_batch: int = 4
    max_len: int = 4096


@dataclass
class StopConfig:
    """Stop after ``max_steps`` optimiser steps, or after ``max_epochs`` passes over the data
    (exactly one of the two should be set; with both, whichever comes first)."""

    max_steps: Optional[int] = None
    max_epochs: Optional[float] = None


@dataclass
class CheckpointConfig:
    """Checkpoint every ``every_steps`` optimiser steps and at the end; keep the last N."""

    every_steps: int = 1000
    keep_last: int = 3


@dataclass
class EvalConfig:
    """Validation loss per task and held-out text perplexity (the forgetting monitor)."""

    every_steps: int = 1000
    valid_max_batches: Optional[int] = None  # micro-batches per rank; None = the whole set
    text_ppl_file: Optional[str] = None  # one text per line; None = no perplexity
    text_ppl_max_tokens: int = 100_000  # cap on scored tokens (the file is read in order)
    text_ppl_every_steps: Optional[int] = None  # None = with every validation
    # true: each line follows <text_start> (the format of a text LLM trained by the task pipeline,
    # e.g. the mini recipe's stand-in base LLM); false: plain text (a real base LLM's format)
    text_ppl_segment: bool = False
    # decoded outputs (train/decode_monitor.py): greedy decoding of the first decode_utts
    # validation utterances per language for decode_tasks (asr, s2tt, any registered speech ->
    # text task), scored as its template says (WER/CER or BLEU, output language), and for tts the
    # text gain (teacher-forced loss with a wrong transcript
    # minus with the right one), every decode_every_steps steps (rounded to validations) and at
    # the end
    decode_every_steps: Optional[int] = None  # None: never
    decode_tasks: list[str] = field(default_factory=lambda: ["asr"])
    decode_utts: int = 10
    decode_prompt_index: int = 0  # the SFT prompt entry (as the decode configs' prompt_index)


@dataclass
class DistConfig:
    """How the model is spread over devices. ``fsdp: null`` (auto) picks FSDP2 when there is more
    than one process or a GPU; ``precision: auto`` is bf16 mixed precision on GPU, fp32 on CPU."""

    fsdp: Optional[bool] = None
    precision: Literal["auto", "fp32", "bf16"] = "auto"
    activation_checkpointing: bool = False
    backend: Literal["auto", "gloo", "nccl"] = "auto"


@dataclass
class GuidedAttentionConfig:
    """Guided attention for speech generated from text (not in the paper; off with weight 0).

    The DC-TTS loss (Tachibana et al., 2018) on a decoder-only LM: at each position that
    predicts a speech frame ``j`` of ``T`` (a ``tasks`` example: TTS reads its transcript, T2ST
    its translation), the chosen heads of the chosen layers are pushed to attend to the text
    token ``n`` of ``N`` near the diagonal, ``penalty_j = 1 - sum_n a[j, n] G[j, n]``, ``G =
    exp(-(n/N - j/T)^2 / (2 sigma^2))``; attention outside the text counts as misplaced. The
    penalty is summed over frames, times ``weight``, and normalised with the cross-entropy (per
    target: a frame has L' targets). The trainer lets the chosen heads report their attention
    (SpeechLM.probe_attention: SDPA everywhere). Needs ``data.kind`` tasks or shards. Why: at
    toy scale the model otherwise learns to continue speech and loses its place in the text
    (doc/mini_recipe.md)."""

    weight: float = 0.0
    sigma: float = 0.2
    layers: list[int] = field(default_factory=lambda: [2])
    heads: list[int] = field(default_factory=lambda: [0, 1])
    tasks: list[str] = field(default_factory=lambda: ["tts"])

    def __post_init__(self) -> None:
        if self.weight < 0 or not self.sigma > 0:
            raise ConfigError(
                f"guided_attention: weight must be >= 0 and sigma > 0, got {self.weight}, "
                f"{self.sigma}"
            )
        if self.weight > 0 and not (self.layers and self.heads and self.tasks):
            raise ConfigError("guided_attention: layers, heads and tasks must not be empty")

    @property
    def enabled(self) -> bool:
        return self.weight > 0


@dataclass
class LogConfig:
    """Console/TensorBoard logging cadence."""

    every_steps: int = 10
    tensorboard: bool = True


@dataclass
class LMTrainConfig:
    """One LM training run (CPT or SFT).

    ``model`` and ``data`` are passed to the builders of ``espnet_codec_lm.lm`` and
    ``espnet_codec_lm.tasks`` (their own dataclasses validate them); ``data.kind: synthetic``
    selects the built-in random batches used by tests and the throughput benchmark.
    """

    system: Optional[str] = None  # one of SYSTEM_NAMES (written to system.yaml)
    stage: Literal["cpt", "sft"] = "cpt"
    seed: int = 0
    model: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    optim: OptimConfig = field(default_factory=OptimConfig)
    batch: BatchConfig = field(default_factory=BatchConfig)
    stop: StopConfig = field(default_factory=lambda: StopConfig(max_steps=1000))
    checkpoint: CheckpointConfig = field(default_factory=CheckpointConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    dist: DistConfig = field(default_factory=DistConfig)
    log: LogConfig = field(default_factory=LogConfig)
    guided_attention: GuidedAttentionConfig = field(default_factory=GuidedAttentionConfig)

    def __post_init__(self) -> None:
        if self.system is not None and self.system not in SYSTEM_NAMES:
            raise ConfigError(f"system {self.system!r} is not one of {list(SYSTEM_NAMES)}")
        if self.stop.max_steps is None and self.stop.max_epochs is None:
            raise ConfigError("stop: set max_steps or max_epochs")
        if self.batch.global_sequences < 1 or self.batch.micro_batch < 1:
            raise ConfigError("batch: global_sequences and micro_batch must be >= 1")
        if self.checkpoint.keep_last < 1:
            raise ConfigError("checkpoint.keep_last must be >= 1")
        counts = {  # step counts: None / 0 mean "never" where the comment says so
            "stop.max_steps": (self.stop.max_steps, 1),
            "log.every_steps": (self.log.every_steps, 1),
            "checkpoint.every_steps": (self.checkpoint.every_steps, 0),  # 0: only at the end
            "eval.every_steps": (self.eval.every_steps, 0),  # 0: only at the end
            "eval.decode_every_steps": (self.eval.decode_every_steps, 1),
            "eval.text_ppl_every_steps": (self.eval.text_ppl_every_steps, 1),
            "optim.warmup_steps": (self.optim.warmup_steps, 0),
        }
        for key, (value, least) in counts.items():
            if value is not None and value < least:
                raise ConfigError(f"{key} must be >= {least}, got {value}")
        if self.stop.max_epochs is not None and not self.stop.max_epochs > 0:
            raise ConfigError(f"stop.max_epochs must be > 0, got {self.stop.max_epochs}")
        if self.guided_attention.enabled and self.data.get("kind", "synthetic") == "synthetic":
            raise ConfigError("guided_attention needs data.kind tasks or shards (task examples)")
        if self.guided_attention.enabled and "dual" in self.model:
            raise ConfigError("guided_attention: not for a DualSpeechLM")
        self.check_sections()

    def check_sections(self) -> None:
        """Type the ``model`` and ``data`` sections now, with the dataclasses their builders use,
        so that a misspelt key or a bad value fails when the config is loaded, not after the
        distributed start and the model build. The sections stay dicts (the builders read them)."""
        model = dict(self.model)
        dual = model.pop("dual", None)  # DualSpeechLM: the acoustic side (espnet_codec_lm.dual)
        config_from_dict(SpeechLMConfig, model, "model")
        data = dict(self.data)
        if dual is not None:
            config_from_dict(DualConfig, dual, "model.dual")
            config_from_dict(AcousticDataConfig, data.pop("acoustic", None) or {}, "data.acoustic")
        kind = data.get("kind", "synthetic")
        if kind == "tasks":
            config_from_dict(DataConfig, data, "data")
        elif kind == "shards":
            try:
                check_stream_config(config_from_dict(StreamDataConfig, data, "data"), self.stage)
            except ValueError as e:
                raise ConfigError(str(e)) from None
        elif kind == "synthetic":
            # lazy: import cycle (train.build imports this module for LMTrainConfig)
            from espnet_codec_lm.train.build import SyntheticDataConfig

            config_from_dict(SyntheticDataConfig, data, "data")
        else:
            raise ConfigError(f"data.kind {kind!r} is not one of {DATA_KINDS}")
