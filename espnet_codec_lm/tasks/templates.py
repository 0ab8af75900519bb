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

    The per-task behaviour of the data pipeline and decoding is declared here too, so that adding
    a task is one entry (and its prompt bank), not edits in every module:

    * ``splittable``: an example longer than the maximum length is cut into pieces (the others
      are dropped);
    * ``time_mask``: its condition speech is time-masked in SFT training (ASR);
    * ``two_way``: a translation pair that is also drawn in the other direction (MT in CPT);
    * ``cpt_speech``: one of the tasks built from every utterance in speech+text CPT.

    Derived from the segments: the target's modality, whether a speaker prompt is needed, whether
    the task translates (its target is in the other language) and whether its source text is the
    translation (T2ST).
    """

    name: str
    segments: tuple[Segment, ...]
    stages: tuple[str, ...] = ("cpt", "sft")
    requires: tuple[str, ...] = ()
    target_lang: Literal["lang", "tgt_lang"] | None = None
    description: str = ""
    splittable: bool = False
    time_mask: bool = False
    two_way: bool = False
    cpt_speech: bool = False

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

    @property
    def uses_speaker_prompt(self) -> bool:
        """TTS-like: conditioned on a speaker prompt (another utterance of the speaker in SFT)."""
        return any(s.slot == "speaker_prompt" for s in self.segments)

    @property
    def speech_target(self) -> bool:
        return self.target.modality == "speech"

    @property
    def translates(self) -> bool:
        """The output is in the other language (the utterance's ``tgt_lang``)."""
        return self.target_lang == "tgt_lang"

    @property
    def source_is_translation(self) -> bool:
        """The condition text is the utterance's translation (T2ST): its source language is
        ``tgt_lang`` and its output is in the utterance's own language."""
        return any(s.role == "condition" and s.slot == "translation" for s in self.segments)

    @property
    def uses_target_speech(self) -> bool:
        """Its target is the utterance's target-language recording (``codes_tgt``, S2ST), not
        the utterance's own speech."""
        return self.target.slot == "target_speech"

    @property
    def decodable(self) -> bool:
        """Has a condition or prompt to decode from (the prompt-free CPT sources do not)."""
        return len(self.segments) > 1

    @property
    def scoring(self) -> dict[str, str | bool] | None:
        """How its decoded outputs are scored, derived from the segments (None: not scored, e.g.
        continuation, whose target has no reference text). The decoder writes this mapping into
        the decode dir's ``meta.yaml`` and scoring follows it (``metrics.layout.ScoringSpec``):
        the reference is the text of what the target holds (the transcript for the utterance's
        own speech or transcript, the translation for a translation or the target-language
        speech); a task that translates (its output, or its source text, in the other language)
        is scored with BLEU, the others with WER / CER; a voice cloned from a speaker prompt is
        also compared with the reference speaker."""
        slot = self.target.slot
        if not self.decodable or slot not in (
            "transcript",
            "translation",
            "speech",
            "target_speech",
        ):
            return None
        return {
            "target": self.target.modality,
            "reference": "translation"
            if slot in ("translation", "target_speech")
            else "transcript",
            "metric": "bleu" if self.translates or self.source_is_translation else "error_rate",
            "speaker_similarity": self.speech_target and self.uses_speaker_prompt,
        }


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
            splittable=True,
            cpt_speech=True,
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
            splittable=True,
            cpt_speech=True,
            description="text language modelling on the transcript: continue a text",
        ),
        TaskTemplate(
            "asr",
            (_seg("condition", "speech", "speech"), _PROMPT, _seg("target", "transcript", "text")),
            requires=("codes", "text"),
            time_mask=True,
            cpt_speech=True,
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
            cpt_speech=True,
            description="speech synthesis with a speaker prompt: text -> speech",
        ),
        TaskTemplate(
            "s2tt",
            (_seg("condition", "speech", "speech"), _PROMPT, _seg("target", "translation", "text")),
            requires=("codes", "translation"),
            target_lang="tgt_lang",
            cpt_speech=True,
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
            cpt_speech=True,
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
            splittable=True,
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
            two_way=True,
            description="machine-translation pair (CPT text-only share)",
        ),
        TaskTemplate(
            "speech_lm",
            (_seg("target", "speech", "speech"),),
            stages=("cpt",),
            requires=("codes",),
            splittable=True,
            description="speech-only CPT (Eq. 3): one utterance as one speech segment, no text",
        ),
    )
}

#: fixed task order; the per-position ``task_ids`` of a batch index into it (-1 = padding). A
#: registered task is appended, so the ids of the built-in tasks never change.
TASK_NAMES: list[str] = list(TEMPLATES)
#: the six tasks built from each utterance in speech+text CPT
CPT_SPEECH_TASKS = tuple(n for n, t in TEMPLATES.items() if t.cpt_speech)


def register_task(template: TaskTemplate) -> TaskTemplate:
    """Add a task to the registry (its prompt bank goes beside the others, or in the bank a
    :class:`~espnet_codec_lm.tasks.prompts.PromptBank` is given); a name in use is an error."""
    if template.name in TEMPLATES:
        raise ValueError(f"task {template.name!r} is already registered")
    TEMPLATES[template.name] = template
    TASK_NAMES.append(template.name)
    return template


def get_template(name: str, stage: str | None = None) -> TaskTemplate:
    """The template called ``name``; with ``stage``, check that the task exists in that stage."""
    if name not in TEMPLATES:
        raise ValueError(f"unknown task {name!r} (known: {', '.join(TASK_NAMES)})")
    template = TEMPLATES[name]
    if stage is not None and stage not in template.stages:
        raise ValueError(f"task {name!r} is not used in {stage} (only in {list(template.stages)})")
    return template
