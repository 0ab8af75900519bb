"""Decode inputs from a test set: utterances of a Kaldi data dir + their codes -> prefixes.

The prefix of each utterance is built by the tasks package
(``SequenceBuilder.build_prefix``: ``<Condition><Prompt><target start>``); this module only
chooses what fills the condition at test time:

* languages: ``src_lang`` keeps the utterances in that language; the target language of S2TT /
  S2ST is ``tgt_lang`` if set, else the language of the data dir's ``text.<lang>``, else the other
  language (utterances already in the target language are skipped and counted);
* the TTS / T2ST speaker prompt (``speaker_prompt: other``): ``speaker_prompt_s`` seconds from
  the start of another utterance of the same speaker: the next one (cyclically, in sorted id
  order) at least that long, else the longest. A speaker with one utterance falls back to the
  start of the utterance itself (logged and counted: that prompt contains the answer);
* the prompt language (``prompt_lang: data`` = the utterance's language) and the bank entry
  (``prompt_index``; fixed so that every system is decoded with the same instruction).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from espnet_codec_lm.decode.config import LMDecodeConfig
from espnet_codec_lm.tasks.corpus import SpeechSetConfig, load_speech_set
from espnet_codec_lm.tasks.prompts import LANGS, PromptBank, TokenizedPrompts
from espnet_codec_lm.tasks.sequence import Sample, SequenceBuilder
from espnet_codec_lm.tasks.templates import get_template

log = logging.getLogger("lm_decode")


@dataclass
class DecodeSet:
    """Everything to decode one test set: samples, their prefixes and the languages."""

    samples: list[Sample]
    prefixes: list[np.ndarray]
    src_lang: str | None
    tgt_lang: str | None
    speaker_prompts: dict[str, str] = field(default_factory=dict)  # uttid -> "other_id start n"
    skipped: dict[str, int] = field(default_factory=dict)
    # the prefixes without their condition (classifier-free guidance of speech targets), or None
    uncond_prefixes: list[np.ndarray] | None = None

    @property
    def ids(self) -> list[str]:
        return [s.uttid for s in self.samples]


def _other_lang(lang: str) -> str:
    return next((x for x in LANGS if x != lang), lang)


def _unique(values) -> str | None:
    vals = {v for v in values if v}
    return vals.pop() if len(vals) == 1 else None


def make_builder(cfg: LMDecodeConfig, layout, tokenizer) -> SequenceBuilder:
    """The tasks package's sequence builder for the configured prompt stage / bank."""
    bank = PromptBank.load(cfg.prompt_dir)
    return SequenceBuilder(layout, tokenizer, TokenizedPrompts(bank, tokenizer), cfg.prompt_stage)


def choose_speaker_prompt(
    samples: list[Sample], i: int, n_frames: int, by_speaker: dict[str, list[int]]
) -> tuple[np.ndarray, str, bool]:
    """``(codes [n, L'], description, fell_back)`` for sample ``i``; see the module docstring."""
    s = samples[i]
    group = by_speaker.get(s.speaker, []) if s.speaker is not None else []
    others = [j for j in group if j != i]
    if not others:
        return s.codes[:n_frames], f"{s.uttid} 0 {min(n_frames, len(s.codes))}", True
    pos = group.index(i)
    ring = group[pos + 1 :] + group[:pos]
    long_enough = [j for j in ring if len(samples[j].codes) >= n_frames]
    j = long_enough[0] if long_enough else max(ring, key=lambda j: len(samples[j].codes))
    codes = samples[j].codes[:n_frames]
    return codes, f"{samples[j].uttid} 0 {len(codes)}", False


def build_prefixes(
    cfg: LMDecodeConfig,
    samples: list[Sample],
    builder: SequenceBuilder,
    frame_rate: float = 50.0,
) -> DecodeSet:
    """Filter ``samples`` by language, fill the test-time condition and build every prefix."""
    task = cfg.task
    template = get_template(task)
    skipped: dict[str, int] = {}
    kept: list[Sample] = []
    for s in samples:
        if cfg.src_lang and s.lang != cfg.src_lang:
            skipped["other_src_lang"] = skipped.get("other_src_lang", 0) + 1
            continue
        if template.translates:
            tgt = cfg.tgt_lang or s.tgt_lang or _other_lang(s.lang)
            if tgt == s.lang:
                skipped["already_in_tgt_lang"] = skipped.get("already_in_tgt_lang", 0) + 1
                continue
            s = replace(s, tgt_lang=tgt)
        kept.append(s)

    speaker_prompts: dict[str, str] = {}
    if template.uses_speaker_prompt:
        n = max(1, int(round(cfg.speaker_prompt_s * frame_rate)))
        by_speaker: dict[str, list[int]] = {}
        for i, s in enumerate(kept):
            if s.speaker is not None:
                by_speaker.setdefault(s.speaker, []).append(i)
        fallbacks = 0
        with_prompt = []
        for i, s in enumerate(kept):
            if s.codes is None:
                raise ValueError(f"utterance {s.uttid}: no codes for the speaker prompt")
            if cfg.speaker_prompt == "self":
                codes, desc, fb = s.codes[:n], f"{s.uttid} 0 {min(n, len(s.codes))}", False
            else:
                codes, desc, fb = choose_speaker_prompt(kept, i, n, by_speaker)
            fallbacks += fb
            speaker_prompts[s.uttid] = desc
            with_prompt.append(replace(s, speaker_prompt=codes))
        kept = with_prompt
        if fallbacks:
            log.warning(
                "%d utterance(s) have no other utterance of their speaker: their speaker prompt "
                "is the start of their own speech",
                fallbacks,
            )
            skipped["speaker_prompt_from_self"] = fallbacks

    prefixes = []
    guided = template.speech_target and cfg.decoding.speech.guidance != 1.0
    uncond: list[np.ndarray] | None = [] if guided else None
    for s in kept:
        lang = s.lang if cfg.prompt_lang == "data" else cfg.prompt_lang
        if lang not in LANGS:
            lang = LANGS[0]
        p = builder.build_prefix(
            task,
            s,
            prompt_lang=lang,
            prompt_index=cfg.prompt_index,
            style_index=cfg.style_index,
        )
        prefixes.append(p.tokens)
        if uncond is not None:
            uncond.append(p.without_condition())

    if template.source_is_translation:  # T2ST: from the translation to the utterance's language
        src, tgt = _unique(s.tgt_lang for s in kept), _unique(s.lang for s in kept)
    elif template.translates:
        src, tgt = _unique(s.lang for s in kept), _unique(s.tgt_lang for s in kept)
    else:
        src = _unique(s.lang for s in kept)
        tgt = src
    return DecodeSet(kept, prefixes, cfg.src_lang or src, tgt, speaker_prompts, skipped, uncond)


def target_lang(task: str, sample: Sample) -> str | None:
    """The language a task's output must be in for ``sample`` (None: not fixed by the task)."""
    template = get_template(task)
    if not template.decodable:  # the prompt-free CPT sources (text, speech_lm)
        return None
    # a translation's output is in the other language; T2ST's source text is the translation,
    # so its output, like every other task's, is in the utterance's own language
    return sample.tgt_lang if template.translates else sample.lang


def load_decode_set(
    cfg: LMDecodeConfig,
    data_dir: str | Path,
    codes_scp: str | Path,
    layout,
    tokenizer,
    frame_rate: float = 50.0,
) -> DecodeSet:
    """Read a test set (data dir + ``codes.scp``) and build its prefixes."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise ValueError(f"{data_dir}: data directory not found")
    # S2ST: the target speech's codes beside codes.scp (tokenize writes codes_tgt.scp) give the
    # reference lengths of the outputs; nothing else reads them
    tgt = Path(codes_scp).with_name("codes_tgt.scp")
    tgt_scp = str(tgt) if get_template(cfg.task).uses_target_speech and tgt.is_file() else None
    samples = load_speech_set(
        SpeechSetConfig(str(data_dir), str(codes_scp), tgt_scp), layout, tokenizer
    )
    if not samples:
        raise ValueError(f"{codes_scp}: no utterances with codes")
    if cfg.max_utts > 0:
        samples = samples[: cfg.max_utts]
    return build_prefixes(cfg, samples, make_builder(cfg, layout, tokenizer), frame_rate)
