"""Typed configs of decoding: text search, speech sampling, batching, and the decode stage.

One YAML per task lives in ``egs2/TEMPLATE/codec_lm1/conf/decode/`` (``asr.yaml``, ``tts.yaml``,
``s2tt.yaml``, ``s2st.yaml``); ``bin/lm_decode`` reads it into :class:`LMDecodeConfig`, the Python
API (:mod:`espnet_codec_lm.inference`) into the same class. Numbers follow SPEC section 4 where
the paper gives one (beam 8; top-k 30, temperature 1.5, 5 samples); the length guards are ours
(doc/decoding.md).

Length guard: a target may have at most
``min(max_len_cap, ceil(max_len_ratio * prefix_len) + max_len_offset)`` positions (the end token
included), and never more than the model's ``max_position_embeddings`` allow, so no decode runs
forever. ``prefix_len`` is the length of the whole ``<Condition><Prompt><target start>`` input.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal, Optional

from espnet_codec_lm.config import ConfigError
from espnet_codec_lm.tasks.templates import TASK_NAMES, get_template


@dataclass
class LengthGuard:
    """Maximum target length relative to the input (see the module docstring)."""

    max_len_ratio: float = 1.0
    max_len_offset: int = 32
    max_len_cap: int = 1024
    min_len: int = 0  # the end token is forbidden before this many target positions

    def max_len(self, prefix_len: int, max_positions: int | None = None) -> int:
        """Target positions allowed after a prefix of ``prefix_len`` positions (>= 0)."""
        n = min(self.max_len_cap, math.ceil(self.max_len_ratio * prefix_len) + self.max_len_offset)
        if max_positions is not None:
            n = min(n, max_positions - prefix_len)
        return max(n, 0)

    def check(self, where: str) -> None:
        if self.max_len_ratio < 0 or self.max_len_cap < 1 or self.min_len < 0:
            raise ConfigError(f"{where}: max_len_ratio >= 0, max_len_cap >= 1, min_len >= 0")
        if self.min_len > self.max_len_cap:
            raise ConfigError(f"{where}: min_len {self.min_len} > max_len_cap {self.max_len_cap}")


@dataclass
class TextSearchConfig(LengthGuard):
    """Text targets: beam search with length normalisation (or greedy).

    Hypothesis score = sum of log-probabilities / (generated length incl. end) ** length_penalty
    (1.0: mean log-probability per token; 0.0: no normalisation)."""

    method: Literal["beam", "greedy"] = "beam"
    beam_size: int = 8
    length_penalty: float = 1.0
    nbest: int = 1  # hypotheses kept per input (<= beam_size), best first
    # any: every text piece; target: where the task fixes the output language (ASR, S2TT), no
    # piece of the other language's script (decode/constraints.py script_masks)
    script: Literal["any", "target"] = "any"

    def __post_init__(self) -> None:
        self.check("text")
        if self.beam_size < 1 or not 1 <= self.nbest <= self.beam_size:
            raise ConfigError(
                f"text: beam_size >= 1 and 1 <= nbest <= beam_size, got {self.beam_size}, "
                f"{self.nbest}"
            )


@dataclass
class SpeechSamplingConfig(LengthGuard):
    """Speech targets: one frame per step, top-k + temperature sampling on every head (or
    greedy = argmax on every head); ``num_samples`` outputs per input."""

    method: Literal["sample", "greedy"] = "sample"
    top_k: int = 30
    temperature: float = 1.5
    num_samples: int = 5
    max_len_ratio: float = 3.0
    max_len_offset: int = 50
    max_len_cap: int = 1500  # 30 s at 50 frames/s
    min_len: int = 1  # a speech target has at least one frame
    # > 0: also stop when p(<speech_end>) at temperature 1 reaches this (speech_sampling.py);
    # 0: the end token is drawn like any code (the paper's plain top-k sampling)
    end_prob: float = 0.0
    # classifier-free guidance scale w (1: off): each head draws from
    # log p(no condition) + w (log p(condition) - log p(no condition)); the unconditional input is
    # the prefix with its condition emptied (TTS: its text; speech_sampling.py, doc/decoding.md)
    guidance: float = 1.0

    def __post_init__(self) -> None:
        self.check("speech")
        if self.guidance < 1.0:
            raise ConfigError(f"speech: guidance must be >= 1 (1 = off), got {self.guidance}")
        if not 0.0 <= self.end_prob <= 1.0:
            raise ConfigError(f"speech: end_prob must be in [0, 1], got {self.end_prob}")
        if self.top_k < 1 or self.temperature <= 0 or self.num_samples < 1:
            raise ConfigError(
                f"speech: top_k >= 1, temperature > 0, num_samples >= 1 (got {self.top_k}, "
                f"{self.temperature}, {self.num_samples})"
            )


@dataclass
class DecodingConfig:
    """How the decoder runs: search settings per target modality, batching, cache, seed."""

    text: TextSearchConfig = field(default_factory=TextSearchConfig)
    speech: SpeechSamplingConfig = field(default_factory=SpeechSamplingConfig)
    batch_size: int = 8  # inputs decoded together (x beam / x samples rows)
    padding_side: Literal["left", "right"] = "left"
    use_cache: bool = True  # false: recompute the whole sequence each step (slow; for checks)
    seed: int = 0
    dtype: Literal["float32", "bfloat16", "float16"] = "float32"
    device: str = "auto"  # auto: cuda when available, else cpu
    num_threads: int = 0  # torch intra-op threads; 0 = leave torch's default

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1, got {self.batch_size}")


@dataclass
class LMDecodeConfig:
    """The decode stage (``bin/lm_decode``) and the inference API: one task on one test set.

    Languages: ``src_lang`` / ``tgt_lang`` None means "from the data" (``utt2lang``; for
    translation the language of the data dir's ``text.<lang>``, else the other language).
    ``prompt_lang``: the language of the task prompt: ``data`` = the utterance's language.
    TTS speaker prompt: ``speaker_prompt: other`` takes ``speaker_prompt_s`` seconds of another
    utterance of the same speaker (VALL-E style, as in SFT), ``self`` the start of the
    utterance's own reference speech (leaks the answer; only for checks).
    """

    task: str = "asr"  # a registered task with a condition or prompt (tasks.templates)
    prompt_stage: Literal["sft", "cpt"] = "sft"
    prompt_lang: Literal["data", "en", "zh"] = "data"
    prompt_index: int = 0
    style_index: int = 0
    prompt_dir: Optional[str] = None  # another prompt bank directory
    src_lang: Optional[str] = None
    tgt_lang: Optional[str] = None
    speaker_prompt: Literal["other", "self"] = "other"
    speaker_prompt_s: float = 3.0
    write_wav: bool = True  # speech targets: also synthesise WAVs with the codec
    max_utts: int = 0  # > 0: decode only the first utterances (quick looks)
    decoding: DecodingConfig = field(default_factory=DecodingConfig)

    def __post_init__(self) -> None:
        if self.task not in TASK_NAMES or not get_template(self.task).decodable:
            known = [t for t in TASK_NAMES if get_template(t).decodable]
            raise ConfigError(f"task {self.task!r} cannot be decoded (one of {known})")
        if self.speaker_prompt_s <= 0:
            raise ConfigError(f"speaker_prompt_s must be > 0, got {self.speaker_prompt_s}")

    @property
    def target_is_speech(self) -> bool:
        return get_template(self.task).speech_target
