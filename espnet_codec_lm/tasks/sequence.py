"""Build ``<Condition><Prompt><Target>`` sequences from a task template and one utterance.

The builder is pure: given a template, a :class:`Sample` and a NumPy generator it returns the same
:class:`Example` every time, so a data pipeline can rebuild any example from ``(seed, index)``.

Layout of a sequence (``tokens: int64 [T, L']``, see ``doc/design.md``, "Sequences"): a text or
boundary position uses stream 0 and holds ``STREAM_PAD`` in the other streams; a speech frame
holds its ``L'`` codebook ids. Every segment is wrapped in its boundary tokens.

Loss masks (``loss_mask[t]`` = position ``t`` is a training target):
- CPT (the paper's Eq. 4): every position but the first (nothing precedes it, and a ``False``
  there keeps a packed row from predicting one example's start from the previous example).
- SFT (Eq. 5): the target's content and its end boundary token. The target's *start* boundary
  token belongs to the prefix: the task fixes the target modality, so the decoder feeds
  ``<Condition><Prompt><target start>`` and generates from there (:meth:`SequenceBuilder.build_prefix`).

Policies (SPEC 3-4, paper App. B.2; ours where the paper is silent, see ``doc/tasks.md``):
- CPT TTS / T2ST speaker prompt: a random slice of the target itself lasting between
  ``min(T/4, 2 s)`` and ``min(T/2, 4 s)``; SFT: ``Sample.speaker_prompt`` (the data pipeline puts
  3 s of another utterance of the same speaker there; at inference the user's prompt).
- Continuation: the split point is uniform in ``[split_min, split_max] x T`` frames (default
  25-75 %), at least one frame on each side. Text LM splits the transcript's tokens the same way.
- ASR SFT: random time masking of the input speech; a masked frame becomes ``STREAM_PAD`` in every
  stream (``fill: pad``: the summed embedding of no codebook, i.e. a zero vector, like
  SpecAugment's zero fill) or random codes (``fill: random``). Never applied to a prefix.
- MT pairs are used in both directions (drawn at random per example).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np

from espnet_codec_lm.lm.vocab import IGNORE_ID, STREAM_PAD, VocabLayout
from espnet_codec_lm.tasks.prompts import LANGS, STYLE_TASK, TokenizedPrompts
from espnet_codec_lm.tasks.templates import TaskTemplate, get_template


@dataclass
class TimeMaskConfig:
    """Random time-domain masking of ASR input speech in SFT."""

    enable: bool = True
    num_masks: int = 2  # spans per utterance (each drawn independently, may overlap)
    max_width_s: float = 0.4  # longest span, seconds
    max_ratio: float = 0.2  # a span never exceeds this share of the utterance
    fill: Literal["pad", "random"] = "pad"  # what a masked frame becomes (see module docstring)


@dataclass
class BuildConfig:
    """How the builder fills templates (everything random is drawn from the caller's rng)."""

    frame_rate: float = 50.0  # codec frames per second
    prompt_lang: Literal["random", "data", "en", "zh"] = "random"  # paper: random in CPT
    # None: a random entry of the task's bank per example (the paper); an int: always that entry
    # (with prompt_lang: data, one fixed prompt per task and language: for small data, where 25
    # prompts x 2 languages make ASR and S2TT hard to tell apart; doc/mini_recipe.md)
    prompt_index: int | None = None
    cpt_speaker_prompt_min_s: float = 2.0  # slice length >= min(T/4, this)
    cpt_speaker_prompt_max_s: float = 4.0  # slice length <= min(T/2, this)
    sft_speaker_prompt_s: float = 3.0  # VALL-E style prompt from another utterance
    split_min: float = 0.25  # continuation / text LM split point, as a share of the length
    split_max: float = 0.75
    mt_both_directions: bool = True
    time_mask: TimeMaskConfig = field(default_factory=TimeMaskConfig)
    # SFT training only: with this probability a speech-target example's condition (TTS: its
    # text; every condition but a speaker prompt) is left empty, so the model also learns the
    # unconditional distribution that classifier-free guidance decoding contrasts with
    # (decoding.speech.guidance; doc/decoding.md). 0 = the paper.
    condition_dropout: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.condition_dropout < 1.0 + 1e-9:
            raise ValueError(f"condition_dropout must be in [0, 1], got {self.condition_dropout}")


@dataclass
class Sample:
    """One utterance or text item: everything a template may read.

    ``codes`` / ``codes_tgt`` / ``speaker_prompt`` are codec-local indices ``[T, n_q]``
    (``n_q >= L'``). ``text_ids`` / ``translation_ids`` are optional token caches for ``text`` /
    ``translation``. ``tgt_lang`` is the language of ``translation`` and of ``codes_tgt``.
    """

    uttid: str
    lang: str = "en"
    codes: np.ndarray | None = None
    text: str | None = None
    translation: str | None = None
    tgt_lang: str | None = None
    codes_tgt: np.ndarray | None = None
    speaker_prompt: np.ndarray | None = None
    text_ids: np.ndarray | None = None
    translation_ids: np.ndarray | None = None
    speaker: str | None = None


@dataclass(frozen=True)
class Span:
    """Where a segment sits in a sequence: ``[start, end)`` includes both boundary tokens."""

    role: str
    slot: str
    modality: str
    start: int
    end: int


@dataclass
class Example:
    """A built sequence: tokens ``int64 [T, L']``, ``loss_mask bool [T]`` and its spans."""

    task: str
    tokens: np.ndarray
    loss_mask: np.ndarray
    spans: list[Span]
    uttid: str = ""
    prompt_lang: str | None = None
    prompt_index: int | None = None
    style_index: int | None = None

    def __len__(self) -> int:
        return int(self.tokens.shape[0])

    @property
    def target_start(self) -> int:
        """Index of the target's start boundary token (the prefix is ``tokens[:target_start+1]``)."""
        return self.spans[-1].start

    def labels(self) -> np.ndarray:
        """``[T, L']``: ``tokens[t + 1]`` where ``loss_mask[t + 1]``, else ``IGNORE_ID``, per stream."""
        return make_labels(self.tokens, self.loss_mask)


@dataclass
class Prefix:
    """What the decoder feeds: ``<Condition><Prompt><target start>`` and where to stop."""

    task: str
    tokens: np.ndarray  # int64 [T, L'], ends with the target's start boundary token
    target_modality: str  # "text" or "speech"
    stop_token: int  # text_end or speech_end
    spans: list[Span]
    prompt_lang: str | None = None
    prompt_index: int | None = None

    def without_condition(self) -> np.ndarray:
        """The prefix with the content of its condition segments removed (their boundary tokens
        kept), except a speaker prompt: the unconditional input of classifier-free guidance
        (TTS: the same voice, prompt and instruction, and an empty text)."""
        keep = np.ones(len(self.tokens), dtype=bool)
        for sp in self.spans:
            if sp.role == "condition" and sp.slot != "speaker_prompt":
                keep[sp.start + 1 : sp.end - 1] = False
        return self.tokens[keep]


def make_labels(tokens: np.ndarray, loss_mask: np.ndarray) -> np.ndarray:
    """Shifted labels; a stream holding ``STREAM_PAD`` at the target position is ignored."""
    labels = np.full(tokens.shape, IGNORE_ID, dtype=np.int64)
    nxt = tokens[1:]
    keep = loss_mask[1:, None] & (nxt != STREAM_PAD)
    labels[:-1] = np.where(keep, nxt, IGNORE_ID)
    return labels


class SequenceBuilder:
    """Fills task templates into token sequences for one stage (``cpt`` or ``sft``).

    ``tokenizer`` is any object with ``encode(text) -> list[int]`` (ids below ``layout.text_rows``).
    """

    def __init__(
        self,
        layout: VocabLayout,
        tokenizer,
        prompts: TokenizedPrompts,
        stage: Literal["cpt", "sft"] = "cpt",
        cfg: BuildConfig | None = None,
    ) -> None:
        if stage not in ("cpt", "sft"):
            raise ValueError(f"stage must be cpt or sft, got {stage!r}")
        self.layout = layout
        self.tokenizer = tokenizer
        self.prompts = prompts
        self.stage = stage
        self.cfg = cfg or BuildConfig()
        self.L = layout.num_streams
        self.offsets = (
            layout.codec_offset + np.arange(self.L, dtype=np.int64) * layout.codebook_size
        )

    # --- public API ---------------------------------------------------------------------------
    def build(
        self,
        task: str,
        sample: Sample,
        rng: np.random.Generator,
        *,
        prompt_lang: str | None = None,
        prompt_index: int | None = None,
        style_index: int | None = None,
        train: bool = True,
    ) -> Example:
        """One training example of ``task`` from ``sample`` (all random choices from ``rng``)."""
        template = get_template(task, self.stage)
        return self._build(template, sample, rng, prompt_lang, prompt_index, style_index, train)

    def build_prefix(
        self,
        task: str,
        sample: Sample,
        *,
        prompt_lang: str | None = None,
        prompt_index: int | None = 0,
        style_index: int | None = 0,
        rng: np.random.Generator | None = None,
    ) -> Prefix:
        """The inference-time input ``<Condition><Prompt><target start>`` for ``task``.

        The sample needs only the condition's fields: ``codes`` (ASR, S2TT, S2ST, continuation:
        the whole of ``codes`` is the given prefix), ``text`` (TTS; T2ST: ``translation`` is the
        source text), ``speaker_prompt`` (TTS / T2ST in SFT), ``text`` (text LM), and the language
        fields a prompt slot needs (``tgt_lang`` for S2TT / S2ST, ``lang`` for T2ST). Prompt
        choice is deterministic by default (entry ``prompt_index`` of the bank in
        ``prompt_lang``, default ``sample.lang``); pass ``prompt_index=None`` and ``rng`` to draw.
        """
        template = get_template(task, self.stage)
        rng = rng if rng is not None else np.random.default_rng(0)
        if prompt_lang is None and self.cfg.prompt_lang in LANGS:
            prompt_lang = self.cfg.prompt_lang
        prompt_lang = prompt_lang or sample.lang
        ex = self._build(
            template, sample, rng, prompt_lang, prompt_index, style_index, False, prefix=True
        )
        last = ex.spans[-1]
        stop = self.layout.speech_end if last.modality == "speech" else self.layout.text_end
        return Prefix(
            task, ex.tokens, last.modality, stop, ex.spans, ex.prompt_lang, ex.prompt_index
        )

    def build_pieces(
        self, task: str, sample: Sample, rng: np.random.Generator, max_len: int
    ) -> tuple[list[Example], str]:
        """Build ``task`` and enforce ``max_len``: an over-long continuation / text LM / text /
        speech LM example is split into equal pieces of its source; any other is dropped.

        Returns the examples and a status: ``"ok"``, ``"split"`` or ``"dropped"``.
        """
        template = get_template(task, self.stage)
        ex = self._build(template, sample, rng, None, None, None, True)
        if len(ex) <= max_len:
            return [ex], "ok"
        if not template.splittable:
            return [], "dropped"
        speech = template.speech_target
        source = sample.codes if speech else self._text_ids(sample)
        overhead = len(ex) - len(source)
        room = max_len - overhead
        if room < 2:
            return [], "dropped"
        n_pieces = math.ceil(len(source) / room)
        bounds = np.linspace(0, len(source), n_pieces + 1).round().astype(int)
        out = []
        for a, b in zip(bounds[:-1], bounds[1:]):
            piece = (
                replace(sample, codes=source[a:b])
                if speech
                else replace(sample, text_ids=source[a:b])
            )
            # same prompts as the first build, so every piece has the same overhead
            out.append(
                self._build(
                    template, piece, rng, ex.prompt_lang, ex.prompt_index, ex.style_index, True
                )
            )
        return out, "split"

    # --- internals ----------------------------------------------------------------------------
    def _choose_prompts(self, template, sample, rng, lang, p_index, s_index):
        """Draw the prompt language (once per example; the style prompt follows it)."""
        if not (template.uses_prompt or template.uses_style_prompt):
            return None, None, None
        if self.cfg.prompt_index is not None:
            p_index = self.cfg.prompt_index if p_index is None else p_index
            s_index = self.cfg.prompt_index if s_index is None else s_index
        if lang is None:
            mode = self.cfg.prompt_lang
            if mode == "random":
                lang = LANGS[int(rng.integers(len(LANGS)))]
            elif mode == "data":
                lang = sample.lang
            else:
                lang = mode
        return lang, p_index, s_index

    def _text_ids(self, sample: Sample, which: str = "text") -> np.ndarray:
        ids = getattr(sample, f"{which}_ids")
        if ids is None:
            text = getattr(sample, which)
            if not text:
                raise ValueError(f"utterance {sample.uttid}: no {which} for this task")
            ids = np.asarray(self.tokenizer.encode(text), dtype=np.int64)
        return np.asarray(ids, dtype=np.int64)

    def _speech_ids(self, codes: np.ndarray | None, sample: Sample, what: str) -> np.ndarray:
        if codes is None or len(codes) == 0:
            raise ValueError(f"utterance {sample.uttid}: no {what} for this task")
        if codes.ndim != 2 or codes.shape[1] < self.L:
            raise ValueError(
                f"utterance {sample.uttid}: {what} must be [T, >={self.L}], got {codes.shape}"
            )
        return codes[:, : self.L].astype(np.int64) + self.offsets

    def _split_point(self, n: int, rng: np.random.Generator) -> int:
        lo = max(1, math.ceil(self.cfg.split_min * n))
        hi = min(n - 1, math.floor(self.cfg.split_max * n))
        if n < 2:
            return n
        return int(rng.integers(lo, hi + 1)) if hi >= lo else max(1, n // 2)

    def _cpt_speaker_prompt(self, speech: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """A slice of the target lasting between min(T/4, 2 s) and min(T/2, 4 s)."""
        T, fr = len(speech), self.cfg.frame_rate
        lo = max(1, math.ceil(min(T / 4, self.cfg.cpt_speaker_prompt_min_s * fr)))
        hi = max(lo, math.floor(min(T / 2, self.cfg.cpt_speaker_prompt_max_s * fr)))
        n = min(T, int(rng.integers(lo, hi + 1)))
        start = int(rng.integers(0, T - n + 1))
        return speech[start : start + n]

    def _time_mask(self, speech: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        cfg = self.cfg.time_mask
        T = len(speech)
        width = min(int(cfg.max_width_s * self.cfg.frame_rate), int(cfg.max_ratio * T))
        if width < 1 or cfg.num_masks < 1:
            return speech
        out = speech.copy()
        for _ in range(cfg.num_masks):
            w = int(rng.integers(0, width + 1))
            start = int(rng.integers(0, T - w + 1))
            if cfg.fill == "pad":
                out[start : start + w] = STREAM_PAD
            else:
                size = self.layout.codebook_size
                out[start : start + w] = rng.integers(0, size, (w, self.L)) + self.offsets
        return out

    def _build(
        self,
        template: TaskTemplate,
        sample: Sample,
        rng: np.random.Generator,
        lang: str | None,
        p_index: int | None,
        s_index: int | None,
        train: bool,
        prefix: bool = False,
    ) -> Example:
        task = template.name
        if template.two_way and self.cfg.mt_both_directions and not prefix and rng.random() < 0.5:
            sample = replace(
                sample,
                text=sample.translation,
                translation=sample.text,
                text_ids=sample.translation_ids,
                translation_ids=sample.text_ids,
                lang=sample.tgt_lang or sample.lang,
                tgt_lang=sample.lang,
            )
        lang, p_index, s_index = self._choose_prompts(template, sample, rng, lang, p_index, s_index)
        tgt_lang = {"lang": sample.lang, "tgt_lang": sample.tgt_lang, None: None}[
            template.target_lang
        ]
        if template.target_lang and not tgt_lang:
            raise ValueError(f"utterance {sample.uttid}: task {task} needs a target language")

        filled: dict[str, np.ndarray] = {}
        used_prompt = used_style = None
        if template.uses_prompt:
            filled["task_prompt"], used_prompt = self.prompts.sample(
                task, self.stage, lang, rng, tgt_lang, p_index
            )
        if template.uses_style_prompt:
            filled["style_prompt"], used_style = self.prompts.sample(
                STYLE_TASK, self.stage, lang, rng, None, s_index
            )
        ctx: dict[str, int] = {}
        for seg in template.segments:
            if seg.slot not in filled and not (prefix and seg.role == "target"):
                filled[seg.slot] = self._fill(seg.slot, template, sample, rng, ctx, train, prefix)
        p_drop = self.cfg.condition_dropout
        if p_drop > 0 and train and not prefix and self.stage == "sft" and template.speech_target:
            if rng.random() < p_drop:
                for seg in template.segments:
                    if seg.role == "condition" and seg.slot != "speaker_prompt":
                        filled[seg.slot] = filled[seg.slot][:0]

        pieces, spans, pos = [], [], 0
        lay = self.layout
        for seg in template.segments:
            if prefix and seg.role == "target":  # only the target's start boundary token
                row = np.full((1, self.L), STREAM_PAD, np.int64)
                row[0, 0] = lay.speech_start if seg.modality == "speech" else lay.text_start
                pieces.append(row)
                spans.append(Span(seg.role, seg.slot, seg.modality, pos, pos + 1))
                break
            content = filled[seg.slot]
            n = len(content)
            arr = np.full((n + 2, self.L), STREAM_PAD, np.int64)
            if seg.modality == "speech":
                arr[0, 0], arr[-1, 0] = lay.speech_start, lay.speech_end
                arr[1:-1] = content
            else:
                arr[0, 0], arr[-1, 0] = lay.text_start, lay.text_end
                arr[1:-1, 0] = content
            pieces.append(arr)
            spans.append(Span(seg.role, seg.slot, seg.modality, pos, pos + n + 2))
            pos += n + 2
        tokens = np.concatenate(pieces, axis=0)
        loss_mask = np.zeros(len(tokens), dtype=bool)
        if not prefix:
            if self.stage == "cpt":
                loss_mask[1:] = True
            else:
                loss_mask[spans[-1].start + 1 : spans[-1].end] = True
        return Example(task, tokens, loss_mask, spans, sample.uttid, lang, used_prompt, used_style)

    def _fill(self, slot, template, sample, rng, ctx, train, prefix) -> np.ndarray:
        task = template.name
        if slot == "speech":
            ids = self._speech_ids(sample.codes, sample, "speech codes")
            mask = template.time_mask and self.cfg.time_mask.enable
            if mask and self.stage == "sft" and train:
                ids = self._time_mask(ids, rng)
            return ids
        if slot in ("speech_prefix", "speech_suffix"):
            ids = self._speech_ids(sample.codes, sample, "speech codes")
            if prefix:
                return ids
            if "cut" not in ctx:
                ctx["cut"] = self._split_point(len(ids), rng)
            cut = ctx["cut"]
            return ids[:cut] if slot == "speech_prefix" else ids[cut:]
        if slot in ("text_prefix", "text_suffix"):
            ids = self._text_ids(sample)
            if prefix:
                return ids
            if "tcut" not in ctx:
                ctx["tcut"] = self._split_point(len(ids), rng)
            cut = ctx["tcut"]
            return ids[:cut] if slot == "text_prefix" else ids[cut:]
        if slot == "transcript":
            return self._text_ids(sample)
        if slot == "translation":
            return self._text_ids(sample, "translation")
        if slot == "target_speech":
            return self._speech_ids(sample.codes_tgt, sample, "target speech codes")
        if slot == "speaker_prompt":
            if self.stage == "cpt" and sample.speaker_prompt is None:
                target = self._speech_ids(sample.codes, sample, "speech codes")
                return self._cpt_speaker_prompt(target, rng)
            return self._speech_ids(sample.speaker_prompt, sample, "speaker prompt")
        raise ValueError(f"task {task}: slot {slot!r} has no filler")
