"""Each task template: token ids per segment, boundary tokens, loss masks, labels, policies."""

from __future__ import annotations

import math

import numpy as np
import pytest

from espnet_codec_lm.lm.labels import shift_labels
from espnet_codec_lm.lm.vocab import IGNORE_ID, STREAM_PAD
from espnet_codec_lm.tasks.sequence import Sample, TimeMaskConfig
from espnet_codec_lm.tasks.templates import TEMPLATES, get_template


def speech_ids(layout, codes):
    return layout.codes_to_ids(codes)


def check_layout(ex, layout):
    """Spans tile the sequence; each is wrapped in its boundary tokens; stream use is right."""
    tok = ex.tokens
    assert tok.dtype == np.int64 and tok.shape[1] == layout.num_streams
    assert ex.spans[0].start == 0 and ex.spans[-1].end == len(tok)
    for a, b in zip(ex.spans[:-1], ex.spans[1:]):
        assert a.end == b.start
    for sp in ex.spans:
        first, last, inner = tok[sp.start], tok[sp.end - 1], tok[sp.start + 1 : sp.end - 1]
        if sp.modality == "speech":
            assert (first[0], last[0]) == (layout.speech_start, layout.speech_end)
            for k in range(layout.num_streams):
                lo, hi = layout.codebook_range(k)
                col = inner[:, k]
                assert np.all((col == STREAM_PAD) | ((col >= lo) & (col < hi)))
        else:
            assert (first[0], last[0]) == (layout.text_start, layout.text_end)
            assert np.all((inner[:, 0] >= 0) & (inner[:, 0] < layout.text_rows))
            assert np.all(inner[:, 1:] == STREAM_PAD)
        assert np.all(first[1:] == STREAM_PAD) and np.all(last[1:] == STREAM_PAD)


def content(ex, i):
    sp = ex.spans[i]
    inner = ex.tokens[sp.start + 1 : sp.end - 1]
    return inner if sp.modality == "speech" else inner[:, 0]


def rendered_prompts(bank, tok, task, stage, lang, tgt_lang=None):
    return {
        tuple(tok.encode(p.render(bank.lang_names, tgt_lang))) for p in bank.get(task, stage, lang)
    }


def check_mask(ex, stage):
    if stage == "cpt":  # Eq. 4: every position is a target but the very first
        assert not ex.loss_mask[0] and ex.loss_mask[1:].all()
    else:  # Eq. 5: the target's content and its end boundary token only
        t = ex.spans[-1]
        want = np.zeros(len(ex), bool)
        want[t.start + 1 : t.end] = True
        assert np.array_equal(ex.loss_mask, want)


def en_and_zh(corpora):
    s = corpora["speech"].samples
    return next(x for x in s if x.lang == "en"), next(x for x in s if x.lang == "zh")


@pytest.mark.parametrize("stage", ["cpt", "sft"])
def test_asr(make_builder, corpora, syn, bank, stage):
    b = make_builder(stage, time_mask=TimeMaskConfig(enable=False))
    for s in en_and_zh(corpora):
        ex = b.build("asr", s, np.random.default_rng(1))
        check_layout(ex, syn.layout)
        check_mask(ex, stage)
        assert [sp.slot for sp in ex.spans] == ["speech", "task_prompt", "transcript"]
        assert np.array_equal(content(ex, 0), speech_ids(syn.layout, s.codes))
        assert tuple(content(ex, 1)) in rendered_prompts(
            bank, syn.tokenizer, "asr", stage, ex.prompt_lang
        )
        assert content(ex, 2).tolist() == syn.tokenizer.encode(s.text)


def test_asr_sft_time_masking(make_builder, corpora, syn):
    s = max(corpora["speech"].samples, key=lambda x: len(x.codes))
    full = speech_ids(syn.layout, s.codes)
    b = make_builder("sft")
    width = min(int(0.4 * 50), int(0.2 * len(full)))
    n_masked = []
    for seed in range(30):
        ex = b.build("asr", s, np.random.default_rng(seed))
        got = content(ex, 0)
        masked = np.all(got == STREAM_PAD, axis=1)
        assert np.array_equal(got[~masked], full[~masked])  # untouched elsewhere
        assert masked.sum() <= 2 * width
        n_masked.append(int(masked.sum()))
    assert np.mean(n_masked) > 0  # masking happens
    # never at inference, and not in CPT
    pre = b.build_prefix("asr", s)
    assert np.array_equal(pre.tokens[1 : 1 + len(full)], full)
    ex = make_builder("cpt").build("asr", s, np.random.default_rng(0))
    assert np.array_equal(content(ex, 0), full)
    # fill: random -> codes in range, not pad
    b = make_builder("sft", time_mask=TimeMaskConfig(fill="random"))
    ex = b.build("asr", s, np.random.default_rng(3))
    assert not np.any(content(ex, 0) == STREAM_PAD)
    check_layout(ex, syn.layout)


def test_tts_cpt_speaker_prompt_is_a_slice_of_the_target(make_builder, corpora, syn, bank):
    b = make_builder("cpt")
    for s in corpora["speech"].samples[::7]:
        target = speech_ids(syn.layout, s.codes)
        T = len(target)
        lo, hi = math.ceil(min(T / 4, 100)), math.floor(min(T / 2, 200))
        for seed in range(5):
            ex = b.build("tts", s, np.random.default_rng(seed))
            check_layout(ex, syn.layout)
            check_mask(ex, "cpt")
            slots = [sp.slot for sp in ex.spans]
            assert slots == [
                "transcript",
                "style_prompt",
                "speaker_prompt",
                "task_prompt",
                "speech",
            ]
            assert [sp.role for sp in ex.spans] == [
                "condition",
                "prompt",
                "condition",
                "prompt",
                "target",
            ]
            assert content(ex, 0).tolist() == syn.tokenizer.encode(s.text)
            styles = rendered_prompts(bank, syn.tokenizer, "speaking_style", "cpt", ex.prompt_lang)
            assert tuple(content(ex, 1)) in styles
            prompt = content(ex, 2)
            assert lo <= len(prompt) <= hi
            starts = [
                i
                for i in range(T - len(prompt) + 1)
                if np.array_equal(target[i : i + len(prompt)], prompt)
            ]
            assert starts, "speaker prompt is not a contiguous slice of the target"
            assert np.array_equal(content(ex, 4), target)


def test_cpt_speaker_prompt_caps_at_two_and_four_seconds(make_builder, syn):
    b = make_builder("cpt")
    rng = np.random.default_rng(0)
    codes = rng.integers(0, syn.layout.codebook_size, (1000, 3))  # 20 s
    lens = {
        len(
            content(
                b.build("tts", Sample("u", "en", codes, "hi there."), np.random.default_rng(i)), 2
            )
        )
        for i in range(200)
    }
    assert min(lens) >= 100 and max(lens) <= 200 and len(lens) > 20


@pytest.mark.parametrize("stage", ["cpt", "sft"])
def test_s2tt_and_t2st(make_builder, corpora, syn, bank, stage):
    b = make_builder(stage)
    for s in en_and_zh(corpora):
        ex = b.build("s2tt", s, np.random.default_rng(2))
        check_layout(ex, syn.layout)
        check_mask(ex, stage)
        assert np.array_equal(content(ex, 0), speech_ids(syn.layout, s.codes))
        # the prompt names the translation's language, in the prompt's language
        ok = rendered_prompts(bank, syn.tokenizer, "s2tt", stage, ex.prompt_lang, s.tgt_lang)
        assert tuple(content(ex, 1)) in ok
        assert content(ex, 2).tolist() == syn.tokenizer.encode(s.translation)

        other = s.codes[:150]
        t2 = Sample(**{**s.__dict__, "speaker_prompt": other}) if stage == "sft" else s
        ex = b.build("t2st", t2, np.random.default_rng(2))
        check_layout(ex, syn.layout)
        check_mask(ex, stage)
        assert content(ex, 0).tolist() == syn.tokenizer.encode(s.translation)
        ok = rendered_prompts(bank, syn.tokenizer, "t2st", stage, ex.prompt_lang, s.lang)
        assert tuple(content(ex, 3)) in ok  # the target language is the speech's
        assert np.array_equal(content(ex, 4), speech_ids(syn.layout, s.codes))
        if stage == "sft":
            assert np.array_equal(content(ex, 2), speech_ids(syn.layout, other))


def test_s2st_is_sft_only_and_targets_the_target_speech(make_builder, corpora, syn, bank):
    with pytest.raises(ValueError, match="not used in cpt"):
        get_template("s2st", "cpt")
    s = next(x for x in corpora["speech"].samples if x.codes_tgt is not None)
    ex = make_builder("sft").build("s2st", s, np.random.default_rng(0))
    check_layout(ex, syn.layout)
    check_mask(ex, "sft")
    assert [sp.slot for sp in ex.spans] == ["speech", "task_prompt", "target_speech"]
    assert np.array_equal(content(ex, 0), speech_ids(syn.layout, s.codes))
    assert np.array_equal(content(ex, 2), speech_ids(syn.layout, s.codes_tgt))
    ok = rendered_prompts(bank, syn.tokenizer, "s2st", "sft", ex.prompt_lang, "zh")
    assert tuple(content(ex, 1)) in ok
    # no text of the utterance anywhere: source speech, prompt, target speech
    assert sum(sp.modality == "text" for sp in ex.spans) == 1


def test_continuation_split_rule(make_builder, corpora, syn):
    b = make_builder("cpt")
    s = corpora["speech"].samples[3]
    full = speech_ids(syn.layout, s.codes)
    T = len(full)
    cuts = set()
    for seed in range(50):
        ex = b.build("continuation", s, np.random.default_rng(seed))
        check_layout(ex, syn.layout)
        check_mask(ex, "cpt")
        pre, post = content(ex, 0), content(ex, 2)
        assert np.array_equal(np.concatenate([pre, post]), full)
        assert math.ceil(0.25 * T) <= len(pre) <= math.floor(0.75 * T)
        cuts.add(len(pre))
    assert len(cuts) > 10


def test_text_lm_text_mt_and_speech_lm(make_builder, corpora, syn, bank):
    b = make_builder("cpt")
    s = corpora["speech"].samples[0]
    ex = b.build("text_lm", s, np.random.default_rng(0))
    check_layout(ex, syn.layout)
    ids = syn.tokenizer.encode(s.text)
    assert content(ex, 0).tolist() + content(ex, 2).tolist() == ids
    assert tuple(content(ex, 1)) in rendered_prompts(
        bank, syn.tokenizer, "text_lm", "cpt", ex.prompt_lang
    )

    t = corpora["text"].samples[0]
    ex = b.build("text", t, np.random.default_rng(0))
    check_layout(ex, syn.layout)
    assert len(ex.spans) == 1 and content(ex, 0).tolist() == syn.tokenizer.encode(t.text)

    m = corpora["mt"].samples[0]
    directions = set()
    for seed in range(20):
        ex = b.build("mt", m, np.random.default_rng(seed))
        check_layout(ex, syn.layout)
        src = syn.tokenizer.decode(content(ex, 0).tolist())
        tgt = syn.tokenizer.decode(content(ex, 2).tolist())
        assert {src, tgt} == {m.text, m.translation}
        directions.add(src == m.text)
    assert directions == {True, False}  # both directions are used

    ex = b.build("speech_lm", s, np.random.default_rng(0))
    check_layout(ex, syn.layout)
    check_mask(ex, "cpt")
    assert len(ex.spans) == 1 and np.array_equal(content(ex, 0), speech_ids(syn.layout, s.codes))
    assert not any(sp.modality == "text" for sp in ex.spans)  # Eq. 3: speech only


@pytest.mark.parametrize("stage", ["cpt", "sft"])
def test_labels_are_shifted_targets(make_builder, corpora, syn, stage):
    b = make_builder(stage)
    s = corpora["speech"].samples[5]
    for task in ("asr", "tts") if stage == "cpt" else ("asr", "s2tt"):
        ex = b.build(task, s, np.random.default_rng(0))
        lab = ex.labels()
        ref = shift_labels(ex.tokens, ex.loss_mask).numpy()  # the LM's own definition
        assert np.array_equal(lab, ref)
        t = ex.spans[-1]
        if stage == "sft":
            # the label at t is tokens[t + 1] only inside the target (content + end token)
            trained = np.flatnonzero(lab[:, 0] != IGNORE_ID)
            assert trained.tolist() == list(range(t.start, t.end - 1))
            assert lab[t.end - 2, 0] == ex.tokens[t.end - 1, 0]  # predicts the end boundary
        else:
            assert np.all(lab[:-1, 0] == ex.tokens[1:, 0]) and lab[-1, 0] == IGNORE_ID
        text_pos = ex.tokens[1:, 1] == STREAM_PAD
        assert np.all(lab[:-1][text_pos, 1:] == IGNORE_ID)  # text targets: stream 0 only


@pytest.mark.parametrize("task", ["asr", "tts", "s2tt", "t2st", "s2st", "continuation", "text_lm"])
def test_prefix_equals_the_start_of_a_training_example(make_builder, corpora, syn, task):
    b = make_builder("sft", time_mask=TimeMaskConfig(enable=False))
    s = next(x for x in corpora["speech"].samples if x.codes_tgt is not None)
    s = Sample(**{**s.__dict__, "speaker_prompt": s.codes[:150]})
    ex = b.build(task, s, np.random.default_rng(0), prompt_lang="zh", prompt_index=3, style_index=4)
    pre = b.build_prefix(task, s, prompt_lang="zh", prompt_index=3, style_index=4)
    if task in ("continuation", "text_lm"):  # at inference the whole input is the prefix
        assert pre.tokens.shape[0] > ex.target_start
    else:
        assert np.array_equal(pre.tokens, ex.tokens[: ex.target_start + 1])
    lay = syn.layout
    speech_target = TEMPLATES[task].target.modality == "speech"
    assert pre.tokens[-1, 0] == (lay.speech_start if speech_target else lay.text_start)
    assert pre.stop_token == (lay.speech_end if speech_target else lay.text_end)
    assert pre.target_modality == ("speech" if speech_target else "text")


def test_build_is_deterministic_and_errors_name_the_utterance(make_builder, corpora, syn):
    b = make_builder("cpt")
    s = corpora["speech"].samples[4]
    a = b.build("tts", s, np.random.default_rng(9))
    c = b.build("tts", s, np.random.default_rng(9))
    assert np.array_equal(a.tokens, c.tokens)
    with pytest.raises(ValueError, match="utterance nope: no translation"):
        b.build(
            "s2tt", Sample("nope", "en", s.codes, "hello.", tgt_lang="zh"), np.random.default_rng(0)
        )
    with pytest.raises(ValueError, match="unknown task"):
        b.build("summarise", s, np.random.default_rng(0))


def test_long_examples_split_or_dropped(make_builder, syn):
    b = make_builder("cpt")
    rng = np.random.default_rng(0)
    codes = rng.integers(0, syn.layout.codebook_size, (900, 3))
    s = Sample("long", "en", codes, "one two three four five six seven.")
    for task in ("continuation", "speech_lm"):
        pieces, status = b.build_pieces(task, s, np.random.default_rng(1), max_len=256)
        assert status == "split" and len(pieces) >= 4
        assert all(len(p) <= 256 for p in pieces)
        speech = [
            np.concatenate(
                [p.tokens[sp.start + 1 : sp.end - 1] for sp in p.spans if sp.modality == "speech"]
            )
            for p in pieces
        ]
        assert np.array_equal(np.concatenate(speech), speech_ids(syn.layout, codes))
    for task in ("asr", "tts"):
        pieces, status = b.build_pieces(task, s, np.random.default_rng(1), max_len=256)
        assert (pieces, status) == ([], "dropped")
    pieces, status = b.build_pieces("asr", s, np.random.default_rng(1), max_len=4096)
    assert status == "ok" and len(pieces) == 1


def test_condition_dropout_and_the_unconditional_prefix(make_builder, corpora, syn):
    """Classifier-free guidance: SFT training sometimes empties the text of TTS (never the
    speaker prompt, never in validation or CPT); the decoder's unconditional input is the
    prefix with the same condition emptied."""
    s = next(x for x in corpora["speech"].samples if x.text)
    s = Sample(s.uttid, s.lang, s.codes, s.text, speaker_prompt=s.codes[:7])
    slots = lambda ex: {sp.slot: sp.end - sp.start - 2 for sp in ex.spans}  # noqa: E731
    full = slots(make_builder("sft").build("tts", s, np.random.default_rng(0)))
    assert full["transcript"] > 0 and full["speaker_prompt"] == 7
    b = make_builder("sft", condition_dropout=0.5)
    built = [slots(b.build("tts", s, np.random.default_rng(i))) for i in range(40)]
    dropped = [x for x in built if x["transcript"] == 0]
    assert 8 <= len(dropped) <= 32  # about half
    kept = ("speaker_prompt", "speech")  # the voice and the target stay (prompts are drawn)
    assert all(x[k] == full[k] for x in built for k in kept)
    assert all(x["transcript"] == full["transcript"] for x in built if x["transcript"])
    always = make_builder("sft", condition_dropout=1.0)
    assert slots(always.build("tts", s, np.random.default_rng(0)))["transcript"] == 0
    valid = always.build("tts", s, np.random.default_rng(0), train=False)
    assert slots(valid)["transcript"] == full["transcript"]
    assert slots(always.build("asr", s, np.random.default_rng(0)))["speech"] == len(s.codes)
    cpt = make_builder("cpt", condition_dropout=1.0).build("tts", s, np.random.default_rng(0))
    assert slots(cpt)["transcript"] == full["transcript"]

    pre = make_builder("sft").build_prefix("tts", s)
    uncond = pre.without_condition()
    tr = next(sp for sp in pre.spans if sp.slot == "transcript")
    n = tr.end - tr.start - 2
    assert len(uncond) == len(pre.tokens) - n
    assert np.array_equal(uncond[: tr.start + 1], pre.tokens[: tr.start + 1])
    assert np.array_equal(uncond[tr.start + 1 :], pre.tokens[tr.end - 1 :])
