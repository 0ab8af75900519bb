"""The task templates, declared as data and looked up by name.

Every task builds ``<Condition><Prompt><Target>``: an ordered list of segments, each a speech or
text span wrapped in its own boundary tokens (``<speech_start> ... <speech_end>`` or
``<text_start> ... <text_end>``). A segment names a *slot* that the sequence builder fills from an
utterance (``speech``, ``transcript``, ``translation``, ...) or from a prompt bank
(``task_prompt``, ``style_prompt``). The exactly one ``target`` segment is always last.

The seven tasks of the paper (SPEC sections 3-4) plus three text/speech-only sources of the CPT
mixture::

    continuation  <speech prefix>           <task prompt>                         -> <speech rest>
    text_lm       <text prefix>             <task prompt>                         -> <text rest>
    asr           <speech>                  <task prompt>                         -> <transcript>
    tts           <text><style prompt><speaker prompt speech><task prompt>        -> <speech>
    s2tt          <speech>                  <task prompt, names target language>  -> <translation>
    t2st          <translation><style prompt><speaker prompt speech><task prompt> -> <speech>
    s2st (SFT)    <source speech>           <task prompt, names target language>  -> <target speech>
    text (CPT)                                                                    -> <text>
    mt (CPT)      <source text>             <task prompt, names target language>  -> <target text>
    speech_lm (speech-only CPT, Eq. 3)                                            -> <speech>

T2ST in CPT has one speech per utterance, so its *source* text is the utterance's translation and
its target is the utterance's own speech (the speech is "the translation" of that text).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Modality = Literal["speech", "text"]
Role = Literal["condition", "prompt", "target"]

#: slots a segment can name; the sequence builder knows how to fill each
SLOTS = (
    "speech",  # the utterance's codes (ASR SFT: time-masked)
    "speech_prefix",  # continuation: the first part of the utterance
    "speech_suffix",  # continuation: the rest
    "transcript",  # the utterance's (punctuated) transcript
    "text_prefix",  # text LM: the first part of the transcript's tokens
    "text_suffix",  # text LM: the rest
    "translation",  # the transcript in the other language
    "speaker_prompt",  # acoustic conditioning (CPT: slice of the target; SFT: another utterance)
    "target_speech",  # S2ST: target-language speech codes
    "task_prompt",  # natural-language instruction from the task's prompt bank
    "style_prompt",  # speaking-style instruction (TTS / T2ST)
)


@dataclass(frozen=True)
class Segment:
    """One span of a sequence: its role, the slot that fills it and its modality."""

    role: Role
    slot: str
    modality: Modality

    def __post_init__(self) -> None:
        if self.slot not in SLOTS:
            raise ValueError(f"unknown slot {self.slot!r} (known: {', '.join(SLOTS)})")


@dataclass(frozen=True)
class TaskTemplate:
    """A task as data: its segments in order, the stages it is used in, and what it needs.

    ``requires`` lists the utterance fields without which the task cannot be built (used to choose
    eligible utterances). ``target_lang`` says which language fills the ``{tgt_lang}`` slot of the
    task prompt: ``"lang"`` (the utterance's own language), ``"tgt_lang"`` (the language of its
    translation / target speech) or ``None`` (no slot).
    """

    name: str
    segments: tuple[Segment, ...]
    stages: tuple[str, ...] = ("cpt", "sft")
    requires: tuple[str, ...] = ()
    target_lang: Literal["lang", "tgt_lang"] | None = None
    description: str = ""

    def __post_init__(self) -> None:
        targets = [s for s in self.segments if s.role == "target"]
        if len(targets) != 1 or self.segments[-1].role != "target":
            raise ValueError(f"task {self.name}: exactly one target segment, and it must be last")

    @property
    def target(self) -> Segment:
        return self.segments[-1]

    @property
    def uses_prompt(self) -> bool:
        return any(s.slot == "task_prompt" for s in self.segments)

    @property
    def uses_style_prompt(self) -> bool:
        return any(s.slot == "style_prompt" for s in self.segments)


def _seg(role: Role, slot: str, modality: Modality) -> Segment:
    return Segment(role, slot, modality)


_PROMPT = _seg("prompt", "task_prompt", "text")
_STYLE = _seg("prompt", "style_prompt", "text")

TEMPLATES: dict[str, TaskTemplate] = {
    t.name: t
    for t in (
        TaskTemplate(
            "continuation",
            (
                _seg("condition", "speech_prefix", "speech"),
                _PROMPT,
                _seg("target", "speech_suffix", "speech"),
            ),
            requires=("codes",),
            description="speech continuation: predict the rest of an utterance from its start",
        ),
        TaskTemplate(
            "text_lm",
            (
                _seg("condition", "text_prefix", "text"),
                _PROMPT,
                _seg("target", "text_suffix", "text"),
            ),
            requires=("text",),
            description="text language modelling on the transcript: continue a text",
        ),
        TaskTemplate(
            "asr",
            (_seg("condition", "speech", "speech"), _PROMPT, _seg("target", "transcript", "text")),
            requires=("codes", "text"),
            description="speech recognition: speech -> transcript",
        ),
        TaskTemplate(
            "tts",
            (
                _seg("condition", "transcript", "text"),
                _STYLE,
                _seg("condition", "speaker_prompt", "speech"),
                _PROMPT,
                _seg("target", "speech", "speech"),
            ),
            requires=("codes", "text"),
            description="speech synthesis with a speaker prompt: text -> speech",
        ),
        TaskTemplate(
            "s2tt",
            (_seg("condition", "speech", "speech"), _PROMPT, _seg("target", "translation", "text")),
            requires=("codes", "translation"),
            target_lang="tgt_lang",
            description="speech-to-text translation: speech -> text in the other language",
        ),
        TaskTemplate(
            "t2st",
            (
                _seg("condition", "translation", "text"),
                _STYLE,
                _seg("condition", "speaker_prompt", "speech"),
                _PROMPT,
                _seg("target", "speech", "speech"),
            ),
            requires=("codes", "translation"),
            target_lang="lang",
            description="text-to-speech translation: text in one language -> speech in the other",
        ),
        TaskTemplate(
            "s2st",
            (
                _seg("condition", "speech", "speech"),
                _PROMPT,
                _seg("target", "target_speech", "speech"),
            ),
            stages=("sft",),
            requires=("codes", "codes_tgt"),
            target_lang="tgt_lang",
            description="speech-to-speech translation, no intermediate text (SFT only)",
        ),
        TaskTemplate(
            "text",
            (_seg("target", "transcript", "text"),),
            stages=("cpt",),
            requires=("text",),
            description="general text (CPT text-only share): a plain text segment",
        ),
        TaskTemplate(
            "mt",
            (
                _seg("condition", "transcript", "text"),
                _PROMPT,
                _seg("target", "translation", "text"),
            ),
            stages=("cpt",),
            requires=("text", "translation"),
            target_lang="tgt_lang",
            description="machine-translation pair (CPT text-only share)",
        ),
        TaskTemplate(
            "speech_lm",
            (_seg("target", "speech", "speech"),),
            stages=("cpt",),
            requires=("codes",),
            description="speech-only CPT (Eq. 3): one utterance as one speech segment, no text",
        ),
    )
}

#: fixed task order; the per-position ``task_ids`` of a batch index into it (-1 = padding)
TASK_NAMES: tuple[str, ...] = tuple(TEMPLATES)
#: the six tasks built from each utterance in speech+text CPT
CPT_SPEECH_TASKS = ("continuation", "text_lm", "asr", "tts", "s2tt", "t2st")
#: tasks that may be split into pieces when longer than the maximum length (others are dropped)
SPLITTABLE_TASKS = ("continuation", "text_lm", "text", "speech_lm")


def get_template(name: str, stage: str | None = None) -> TaskTemplate:
    """The template called ``name``; with ``stage``, check that the task exists in that stage."""
    if name not in TEMPLATES:
        raise ValueError(f"unknown task {name!r} (known: {', '.join(TASK_NAMES)})")
    template = TEMPLATES[name]
    if stage is not None and stage not in template.stages:
        raise ValueError(f"task {name!r} is not used in {stage} (only in {list(template.stages)})")
    return template
