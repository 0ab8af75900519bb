"""Prompt banks: counts, forms, languages, slots, CPT/SFT disjointness, random language."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from espnet_codec_lm.config import ConfigError
from espnet_codec_lm.tasks.prompts import IMPERATIVE_VERBS, LANGS, SFT_FORMS, PromptBank
from espnet_codec_lm.tasks.templates import TEMPLATES

PROMPTED = [name for name, t in TEMPLATES.items() if t.uses_prompt]


def test_bank_has_no_problems(bank):
    assert bank.problems(per_lang=25) == []


@pytest.mark.parametrize("task", PROMPTED)
def test_counts_per_stage_and_language(bank, task):
    for stage in TEMPLATES[task].stages:
        for lang in LANGS:
            assert len(bank.get(task, stage, lang)) == 25, (task, stage, lang)


def test_cpt_prompts_are_declaratives(bank):
    cpt = [p for p in bank.prompts if p.stage == "cpt" and p.task != "speaking_style"]
    assert len(cpt) == 7 * 50  # six CPT tasks + MT pairs, 25 + 25 each
    for p in cpt:
        assert p.text[-1] in ".。", p.text
        if p.lang == "en":
            assert p.text.split()[0] not in IMPERATIVE_VERBS, p.text


def test_sft_prompts_mix_three_forms(bank):
    for task in PROMPTED:
        if "sft" not in TEMPLATES[task].stages:
            continue
        for lang in LANGS:
            ps = bank.get(task, "sft", lang)
            forms = {f: [p for p in ps if p.form == f] for f in SFT_FORMS}
            assert all(len(v) >= 5 for v in forms.values()), (task, lang)
            assert all(p.text[-1] in "?？" for p in forms["interrogative"])
            assert all(p.text[-1] in ".。" for p in forms["declarative"] + forms["imperative"])
            if lang == "en":
                assert all(p.text.split()[0] in IMPERATIVE_VERBS for p in forms["imperative"])


def test_cpt_and_sft_never_overlap(bank):
    cpt = {p.text for p in bank.prompts if p.stage == "cpt"}
    sft = {p.text for p in bank.prompts if p.stage == "sft"}
    assert cpt and sft and not cpt & sft
    texts = [p.text for p in bank.prompts]
    assert len(texts) == len(set(texts))


def test_style_prompts_are_imperative_in_both_languages(bank):
    for stage in ("cpt", "sft"):
        for lang in LANGS:
            ps = bank.get("speaking_style", stage, lang)
            assert len(ps) == 25
            assert all(p.text[-1] in ".。" for p in ps)
            if lang == "en":
                assert all(p.text.split()[0] in IMPERATIVE_VERBS for p in ps)
            else:
                assert all(not p.text.isascii() for p in ps)


def test_translation_prompts_name_the_target_language(bank):
    for task in ("s2tt", "t2st", "s2st", "mt"):
        for p in bank.prompts:
            if p.task != task:
                continue
            assert p.text.count("{tgt_lang}") == 1, p.text
            zh = p.render(bank.lang_names, "zh")
            en = p.render(bank.lang_names, "en")
            want = ("Chinese", "English") if p.lang == "en" else ("中文", "英文")
            assert want[0] in zh and want[1] in en and "{" not in zh


def test_problems_are_detected(tmp_path, bank):
    (tmp_path / "languages.yaml").write_text("en: {en: English, zh: Chinese}\n")
    (tmp_path / "asr.yaml").write_text(
        "task: asr\ncpt:\n  en: ['The text follows.', 'Transcribe this.', 'A question?']\n"
        "sft:\n  en:\n    declarative: ['The text follows.']\n"
    )
    probs = PromptBank.load(tmp_path).problems(per_lang=2)
    text = "\n".join(probs)
    assert "imperative 'Transcribe'" in text
    assert "must end with . / 。" in text
    assert "3 prompts, expected 2" in text and "1 prompts, expected 2" in text
    assert "is in both CPT and SFT" in text
    assert "SFT forms" in text


def test_bad_bank_file_is_a_one_line_error(tmp_path):
    (tmp_path / "languages.yaml").write_text("en: {en: English}\n")
    (tmp_path / "x.yaml").write_text("task: asr\ncpt:\n  en: [1, '']\n")
    with pytest.raises(ConfigError, match=r"x.yaml: cpt.en: expected a list"):
        PromptBank.load(tmp_path)


def test_cpt_prompt_language_is_random_and_independent_of_data(make_builder, corpora):
    b = make_builder("cpt")
    speech = corpora["speech"]
    langs = {"en": [], "zh": []}
    for i in range(400):
        s = speech.samples[i % len(speech)]
        ex = b.build("asr", s, np.random.default_rng(i))
        langs[s.lang].append(ex.prompt_lang)
    for data_lang, got in langs.items():
        share_zh = np.mean([g == "zh" for g in got])
        assert 0.4 < share_zh < 0.6, (data_lang, share_zh)


def test_style_prompt_follows_task_prompt_language(make_builder, corpora, bank, syn):
    b = make_builder("cpt")
    s = corpora["speech"].samples[0]
    for seed in range(10):
        ex = b.build("tts", s, np.random.default_rng(seed))
        style = ex.spans[1]
        text = syn.tokenizer.decode(ex.tokens[style.start + 1 : style.end - 1, 0].tolist())
        assert text in {p.text for p in bank.get("speaking_style", "cpt", ex.prompt_lang)}


def test_fixed_prompt_policy(make_builder, corpora, bank, syn):
    """prompt_lang: data + prompt_index: 0: every SFT example uses entry 0 of its language's
    bank (task and style prompt), as the decode configs do; without it the entry is random."""
    speech = corpora["speech"]
    fixed = make_builder("sft", prompt_lang="data", prompt_index=0)
    free = make_builder("sft", prompt_lang="data")
    seen_free = set()
    for i in range(60):
        s = speech.samples[i % len(speech)]
        for task in ("asr", "s2tt"):
            ex = fixed.build(task, s, np.random.default_rng(i))
            assert (ex.prompt_lang, ex.prompt_index) == (s.lang, 0)
            prompt = ex.spans[1]
            text = syn.tokenizer.decode(ex.tokens[prompt.start + 1 : prompt.end - 1, 0].tolist())
            entry = bank.get(task, "sft", s.lang)[0]
            assert text == entry.render(bank.lang_names, s.tgt_lang)
            seen_free.add(free.build(task, s, np.random.default_rng(i)).prompt_index)
        with_prompt = replace(s, speaker_prompt=s.codes[:20])
        assert fixed.build("tts", with_prompt, np.random.default_rng(i)).style_index == 0
    assert len(seen_free) > 5
