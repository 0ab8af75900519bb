"""DualSpeechLM's parts on tiny models: the acoustic decoder's loss against a hand computation,
its KV cache against full recomputation, the semantic loss weight, Chain-of-Condition spans,
the acoustic batch of the task pipeline, and save / load."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from dual_helpers import AC_SIZE, AC_STREAMS, ARCH, UST_SIZE, dual_cfg, tiny_dual

from espnet_codec_lm.dual.data import DualTaskDataset, acoustic_source, load_acoustic
from espnet_codec_lm.dual.model import (
    AcousticDecoder,
    DualSpeechLM,
    coc_condition,
    is_dual_checkpoint,
)
from espnet_codec_lm.lm.model import SpeechLM
from espnet_codec_lm.lm.vocab import IGNORE_ID


def tiny_decoder(seed=0, cond_dim=24) -> AcousticDecoder:
    torch.manual_seed(seed)
    return AcousticDecoder(dual_cfg(), cond_dim).eval()


def test_acoustic_loss_matches_a_hand_computation():
    dec = tiny_decoder()
    g = torch.Generator().manual_seed(1)
    cond = torch.randn(5, 24, generator=g)
    prompt = torch.randint(0, AC_SIZE, (4, AC_STREAMS), generator=g)
    tgt = torch.randint(0, AC_SIZE, (6, AC_STREAMS), generator=g)
    sums, counts = dec.loss([cond], [prompt], [tgt])
    assert counts.tolist() == [7, 6]  # 6 frames + end of speech on the main head
    # by hand: one sequence, no padding; position p predicts frame p + 1 of the target
    pre = dec.prefix(cond, prompt)
    x = torch.cat([pre, dec.embed_frames(tgt)])[None]
    h = dec.body(inputs_embeds=x).last_hidden_state[0]
    first = len(pre) - 1  # the BOS position predicts frame 1
    main = F.log_softmax(dec.main_head(h[first : first + 7]), -1)
    want0 = -(main[torch.arange(6), tgt[:, 0]].sum() + main[6, dec.eos])
    extra = F.log_softmax(dec.extra_heads[0](h[first : first + 6]), -1)
    want1 = -extra[torch.arange(6), tgt[:, 1]].sum()
    torch.testing.assert_close(sums, torch.stack([want0, want1]), rtol=1e-5, atol=1e-5)


def test_acoustic_loss_of_a_padded_batch_is_the_sum_of_its_examples():
    dec = tiny_decoder()
    g = torch.Generator().manual_seed(2)
    items = [
        (torch.randn(n, 24, generator=g), None if p == 0 else torch.randint(0, AC_SIZE, (p, 2)),
         torch.randint(0, AC_SIZE, (t, AC_STREAMS), generator=g))
        for n, p, t in ((3, 0, 5), (7, 4, 2), (1, 2, 9))
    ]  # fmt: skip
    sums, counts = dec.loss(*map(list, zip(*items)))
    alone = [dec.loss([c], [p], [t]) for c, p, t in items]
    torch.testing.assert_close(sums, sum(s for s, _ in alone), rtol=1e-5, atol=1e-4)
    assert counts.tolist() == sum(c for _, c in alone).tolist()


def test_acoustic_cache_matches_full_recomputation():
    """Logits of each frame step with the KV cache (left-padded batch of two prefixes of
    different lengths) equal those of the whole sequence recomputed without a cache."""
    dec = tiny_decoder()
    g = torch.Generator().manual_seed(3)
    conds = [torch.randn(4, 24, generator=g), torch.randn(9, 24, generator=g)]
    frames = torch.randint(0, AC_SIZE, (2, 5, AC_STREAMS), generator=g)
    pres = [dec.prefix(c, None) for c in conds]
    P = max(len(p) for p in pres)
    x = torch.zeros(2, P, ARCH.hidden_size)
    mask = torch.zeros(2, P, dtype=torch.long)
    for i, p in enumerate(pres):
        x[i, P - len(p) :], mask[i, P - len(p) :] = p, 1
    pos = (mask.cumsum(-1) - 1).clamp_min(0)
    main, extra, cache = dec.logits(x, mask, pos)
    for t in range(frames.shape[1]):
        for i, p in enumerate(pres):  # full recomputation of row i alone, no padding
            seq = torch.cat([p, dec.embed_frames(frames[i, :t])])[None]
            h = dec.body(inputs_embeds=seq, use_cache=False).last_hidden_state[0, -1]
            torch.testing.assert_close(main[i], dec.main_head(h), rtol=1e-4, atol=1e-5)
            torch.testing.assert_close(extra[i, 0], dec.extra_heads[0](h), rtol=1e-4, atol=1e-5)
        mask = torch.cat([mask, mask.new_ones(2, 1)], 1)
        pos = pos[:, -1:] + 1
        main, extra, cache = dec.logits(dec.embed_frames(frames[:, t])[:, None], mask, pos, cache)


def test_generate_stops_at_end_of_speech_and_respects_limits():
    dec = tiny_decoder()
    with torch.no_grad():  # make end of speech certain after the first frame
        dec.main_head.weight[dec.eos] = 0.0
        dec.main_head.bias = None
    cond = [torch.randn(3, 24), torch.randn(5, 24)]
    out = dec.generate(cond, [None, None], max_frames=[4, 7], min_frames=2, temperature=1.0)
    assert [o.shape[1] for o in out] == [AC_STREAMS] * 2
    assert all(2 <= len(o) <= m for o, m in zip(out, (4, 7)))
    assert all(int(o.max()) < AC_SIZE and int(o.min()) >= 0 for o in out)
    greedy = dec.generate(cond, [None, None], max_frames=[3, 3], temperature=0.0)
    again = dec.generate(cond, [None, None], max_frames=[3, 3], temperature=0.0)
    assert all(torch.equal(a, b) for a, b in zip(greedy, again))


def test_coc_spans():
    # target span [10, 20): <speech_start> at 10, content 11..18, <speech_end> at 19
    assert coc_condition("question", 10, 20) == (0, 11)
    assert coc_condition("answer", 10, 20) == (11, 20)
    assert coc_condition("full", 10, 20) == (0, 20)
    with pytest.raises(ValueError, match="Chain-of-Condition"):
        coc_condition("both", 10, 20)


def test_acoustic_sources_follow_the_templates():
    assert acoustic_source("tts") == "codes"
    assert acoustic_source("t2st") == "codes"
    assert acoustic_source("s2st") == "codes_tgt"
    assert acoustic_source("asr") is None and acoustic_source("continuation") is None


def _dataset(dual_corpus, tasks=("asr", "tts", "s2st"), coc=("question", "answer", "full")):
    ust, ac = dual_corpus
    cfg = ust.data_config(stage="sft", tasks=list(tasks), max_len=512, batch_size=2)
    acoustic = {
        "codes": load_acoustic([str(ac.root / "codes/train/codes.scp")], AC_STREAMS, AC_SIZE),
        "codes_tgt": load_acoustic(
            [str(ac.root / "codes/train/codes_tgt.scp")], AC_STREAMS, AC_SIZE
        ),
    }
    return DualTaskDataset(cfg, ust.layout, ust.tokenizer, acoustic, 25, list(coc)), acoustic


def test_dual_batches_carry_acoustic_targets_and_coc_spans(dual_corpus):
    ds, acoustic = _dataset(dual_corpus)
    lay = ds.layout
    seen = {"tts": 0, "s2st": 0, "question": 0, "answer": 0}
    for b in range(ds.num_batches(0)):
        batch = ds.get_batch(0, b)
        rows = ds.rows_of(0, b)
        gen = []
        for r, row in enumerate(rows):
            pos = 0
            for _, ex in ds.examples_of_row(0, row):
                if ex.task in ("tts", "s2st"):
                    gen.append((r, pos, ex))
                pos += len(ex)
        assert len(batch["ac_codes"]) == len(gen)
        for g, (r, off, ex) in enumerate(gen):
            src = "codes_tgt" if ex.task == "s2st" else "codes"
            want = acoustic[src][ex.uttid]
            n = int(batch["ac_lens"][g])
            assert np.array_equal(batch["ac_codes"][g, :n].numpy(), want)
            assert (batch["ac_codes"][g, n:] == -1).all()
            row, start, end = batch["ac_cond"][g].tolist()
            span = next(s for s in ex.spans if s.role == "target")
            assert row == r and start >= off and end <= off + len(ex)
            ids = batch["input_ids"][r, :, 0]
            if start == off + span.start + 1:  # answer: the target's USTokens and end token
                seen["answer"] += 1
                assert end == off + span.end and int(ids[end - 1]) == lay.speech_end
            else:  # question (ends with the target's start token) or full
                assert start == off
                if end == off + span.start + 1:
                    seen["question"] += 1
                    assert int(ids[end - 1]) == lay.speech_start
            p = int(batch["ac_prompt_lens"][g])
            assert 0 < p <= 25  # a speaker prompt from the acoustic codes
            seen[ex.task] += 1
    assert min(seen.values()) > 0, seen
    again = ds.get_batch(0, 1)  # a pure function of (seed, epoch, batch): exact resume
    first = ds.get_batch(0, 1)
    assert all(torch.equal(again[k], first[k]) for k in again)


def test_semantic_weight_scales_the_llm_loss_on_speech_targets(dual_corpus):
    ds, _ = _dataset(dual_corpus, tasks=("tts",))
    batch = ds.get_batch(0, 0)
    kw = {k: batch[k] for k in batch if k.startswith("ac_")}
    one = tiny_dual(ds.layout)
    two = tiny_dual(ds.layout, semantic_weight=2.0)
    two.load_state_dict(one.state_dict())
    o1 = one(batch["input_ids"], batch["labels"], position_ids=batch["position_ids"],
             return_token_loss=True, **kw)  # fmt: skip
    o2 = two(batch["input_ids"], batch["labels"], position_ids=batch["position_ids"], **kw)
    lab = batch["labels"][..., 0]
    speech = (lab >= ds.layout.codec_offset) & (lab < ds.layout.boundary_offset)
    semantic = o1.token_loss[..., 0][speech].sum()
    assert semantic > 0 and int(speech.sum()) > 0
    torch.testing.assert_close(o2.loss_sum[0], o1.loss_sum[0] + semantic, rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(o2.loss_sum[1:], o1.loss_sum[1:], rtol=1e-5, atol=1e-4)
    assert o1.loss_sum.shape == (1 + AC_STREAMS,) and o1.count[1:].sum() > 0
    assert o1.detail_names == ("text", "cb1", "ac1", "ac2")


def test_a_batch_without_generation_still_reaches_every_parameter(dual_corpus):
    ds, _ = _dataset(dual_corpus, tasks=("asr",))
    batch = ds.get_batch(0, 0)
    assert len(batch["ac_codes"]) == 0
    model = tiny_dual(ds.layout)
    out = model(batch["input_ids"], batch["labels"], position_ids=batch["position_ids"],
                **{k: batch[k] for k in batch if k.startswith("ac_")})  # fmt: skip
    assert out.count[1:].sum() == 0 and float(out.loss_sum[1:].sum()) == 0.0
    out.loss_sum.sum().backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


def test_save_and_load_round_trip(tmp_path, dual_corpus):
    ds, _ = _dataset(dual_corpus, tasks=("tts",))
    model = tiny_dual(ds.layout).eval()
    model.save_pretrained(tmp_path / "m", tokenizer=ds.tokenizer)
    assert is_dual_checkpoint(tmp_path / "m") and not is_dual_checkpoint(tmp_path)
    back = DualSpeechLM.from_pretrained(tmp_path / "m").eval()
    for (k, a), (k2, b) in zip(model.state_dict().items(), back.state_dict().items()):
        assert k == k2 and torch.equal(a, b), k
    assert back.dual_cfg == model.dual_cfg
    # the directory is also a plain SpeechLM checkpoint: LLM-only tools (ASR decoding) load it
    llm = SpeechLM.from_pretrained(tmp_path / "m")
    batch = ds.get_batch(0, 0)
    with torch.no_grad():
        a = llm(batch["input_ids"], position_ids=batch["position_ids"]).logits
        b = model.llm(batch["input_ids"], position_ids=batch["position_ids"]).logits
    torch.testing.assert_close(a, b)
    assert IGNORE_ID == -100 and UST_SIZE == ds.layout.codebook_size
