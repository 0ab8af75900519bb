"""Adding a task is one template entry and its prompt bank: a toy task registered here is
built for training, gets decoding inputs and the right languages, with no other code changed."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from espnet_codec_lm.config import ConfigError
from espnet_codec_lm.decode.config import LMDecodeConfig
from espnet_codec_lm.decode.inputs import build_prefixes, target_lang
from espnet_codec_lm.tasks.prompts import PROMPT_DIR, PromptBank, TokenizedPrompts
from espnet_codec_lm.tasks.sequence import BuildConfig, SequenceBuilder
from espnet_codec_lm.tasks.templates import (
    CPT_SPEECH_TASKS,
    TASK_NAMES,
    TEMPLATES,
    Segment,
    TaskTemplate,
    get_template,
    register_task,
)
from espnet_codec_lm.testing.toy_task import speak_translation_template

TOY = "speak_translation"  # read the translation aloud in the utterance's language, no voice


@pytest.fixture
def toy_task(tmp_path):
    """The toy task registered, with a prompt bank of the packaged banks plus its own file."""
    template = speak_translation_template(TOY)
    bank_dir = tmp_path / "prompts"
    shutil.copytree(PROMPT_DIR, bank_dir)
    (bank_dir / f"{TOY}.yaml").write_text(
        f"task: {TOY}\nsft:\n  en:\n    - Say this in {{tgt_lang}}.\n  zh:\n    - 用{{tgt_lang}}说出来。\n",
        encoding="utf-8",
    )
    ids_before = list(TASK_NAMES)
    register_task(template)
    try:
        yield PromptBank.load(bank_dir)
    finally:
        del TEMPLATES[TOY]
        TASK_NAMES.remove(TOY)
    assert TASK_NAMES == ids_before


def test_a_registered_task_builds_decodes_and_keeps_the_ids_of_the_others(toy_task, syn, corpora):
    template = get_template(TOY)
    assert TASK_NAMES[-1] == TOY and TASK_NAMES.index("asr") == list(TEMPLATES).index("asr")
    # derived from the segments, nothing declared
    assert template.speech_target and template.source_is_translation and template.decodable
    assert not template.translates and not template.uses_speaker_prompt
    assert TOY not in CPT_SPEECH_TASKS
    with pytest.raises(ValueError, match="already registered"):
        register_task(template)

    builder = SequenceBuilder(
        syn.layout, syn.tokenizer, TokenizedPrompts(toy_task, syn.tokenizer), "sft", BuildConfig()
    )
    samples = [s for s in corpora["speech"].samples if s.translation is not None][:4]
    ex = builder.build(TOY, samples[0], np.random.default_rng(0))
    assert [sp.slot for sp in ex.spans] == ["translation", "task_prompt", "speech"]
    target = ex.spans[-1]
    assert (
        ex.loss_mask[target.start + 1 : target.end].all() and not ex.loss_mask[: target.start].any()
    )
    assert len(ex) > len(samples[0].codes)  # the whole utterance is the target

    cfg = LMDecodeConfig(task=TOY)
    assert cfg.target_is_speech
    dset = build_prefixes(cfg, samples, builder)
    assert len(dset.prefixes) == len(samples) and not dset.speaker_prompts
    # source: the translation's language; output: the utterance's own language
    s = dset.samples[0]
    assert target_lang(TOY, s) == s.lang and s.tgt_lang != s.lang
    langs = {x.lang for x in dset.samples}
    if len(langs) == 1:
        assert dset.tgt_lang == s.lang and dset.src_lang == s.tgt_lang


def test_a_task_without_a_condition_cannot_be_decoded():
    with pytest.raises(ConfigError, match="'speech_lm' cannot be decoded"):
        LMDecodeConfig(task="speech_lm")
    with pytest.raises(ConfigError, match="'nope' cannot be decoded"):
        LMDecodeConfig(task="nope")


def test_the_decode_monitor_reads_the_registry(syn, tmp_path):
    """Which tasks the training monitor can decode and how it scores them come from the
    templates: a registered speech -> text task is monitored (WER / CER against the transcript)
    with no edit in train/."""
    from espnet_codec_lm.testing.toy_task import registered
    from espnet_codec_lm.train.decode_monitor import DecodeMonitor, monitorable

    assert [t for t in TASK_NAMES if monitorable(t)] == ["asr", "tts", "s2tt"]
    twin = TaskTemplate(
        "transcribe_again",
        (
            Segment("condition", "speech", "speech"),
            Segment("prompt", "task_prompt", "text"),
            Segment("target", "transcript", "text"),
        ),
        stages=("sft",),
        requires=("codes", "text"),
    )
    bank_dir = tmp_path / "prompts"
    shutil.copytree(PROMPT_DIR, bank_dir)
    (bank_dir / "transcribe_again.yaml").write_text(
        "task: transcribe_again\nsft:\n  en:\n    - Write it down.\n  zh:\n    - 写下来。\n",
        encoding="utf-8",
    )
    with registered(twin):
        assert monitorable("transcribe_again")
        sets = syn.data_config().speech_sets
        mon = DecodeMonitor.from_data(
            sets, ["transcribe_again"], syn.layout, syn.tokenizer, 1, prompt_dir=str(bank_dir)
        )
        assert {it.task for it in mon.items} == {"transcribe_again"}
        assert all(it.reference and it.tgt_lang == it.src_lang for it in mon.items)
    with pytest.raises(ValueError, match=r"\['continuation'\] cannot be monitored"):
        DecodeMonitor.from_data([], ["continuation"], syn.layout, syn.tokenizer, 1)
