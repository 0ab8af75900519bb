"""SpeechLM forward: equivalence with Qwen2, summed embeddings, KV cache, packing, per-head loss."""

from __future__ import annotations

import warnings

import pytest
import torch
import torch.nn.functional as F

from espnet_codec_lm.lm.build import build_speech_lm
from espnet_codec_lm.lm.config import SpeechLMConfig
from espnet_codec_lm.lm.labels import shift_labels
from espnet_codec_lm.lm.model import SpeechLMError
from espnet_codec_lm.lm.vocab import IGNORE_ID, STREAM_PAD
from espnet_codec_lm.train.distributed import enable_activation_checkpointing

ATOL = 1e-5


def _build(base, attn="sdpa", **kw):
    torch.manual_seed(0)
    cfg = SpeechLMConfig(
        init="text_llm", base_llm=str(base), codebook_size=16, attn_implementation=attn, **kw
    )
    model, tok = build_speech_lm(cfg)
    return model.eval(), tok


def _mixed_sequence(model, tok, n_frames=5, seed=0):
    """<text_start> text <text_end> <speech_start> frames <speech_end>: tokens [T, L'] + mask."""
    lay = model.layout
    g = torch.Generator().manual_seed(seed)
    text = tok.encode("the cat sat on the mat. 今天天气很好")
    rows = [[lay.text_start]] + [[t] for t in text] + [[lay.text_end], [lay.speech_start]]
    rows = [r + [STREAM_PAD] * (lay.num_streams - 1) for r in rows]
    codes = torch.randint(0, lay.codebook_size, (n_frames, lay.num_streams), generator=g)
    frames = torch.as_tensor(lay.codes_to_ids(codes.numpy()))
    end = [lay.speech_end] + [STREAM_PAD] * (lay.num_streams - 1)
    tokens = torch.cat([torch.tensor(rows), frames, torch.tensor([end])])
    return tokens


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
@pytest.mark.parametrize("tied", [False, True])
def test_text_only_equals_base_qwen2(tiny_base, tiny_base_tied, attn, tied):
    from transformers import Qwen2ForCausalLM

    base_dir = tiny_base_tied if tied else tiny_base
    model, tok = _build(base_dir, attn=attn)
    base = Qwen2ForCausalLM.from_pretrained(str(base_dir), attn_implementation=attn).eval()
    assert (model.lm.lm_head.weight is model.lm.model.embed_tokens.weight) == tied
    ids = torch.tensor(
        [tok.encode("the cat sat on the mat.")[:7], tok.encode("今天天气很好。我们去")[:7]]
    )
    with torch.no_grad():
        ref = base(ids).logits
        streams = torch.full((*ids.shape, model.num_streams), STREAM_PAD)
        streams[..., 0] = ids
        ours = model(streams).logits
        ours_2d = model(ids).logits
    rows = model.layout.text_rows
    assert ours.shape == (2, 7, model.layout.size)
    torch.testing.assert_close(ours[..., :rows], ref, atol=ATOL, rtol=0)
    torch.testing.assert_close(ours_2d, ours, atol=0, rtol=0)


def test_speech_frame_embedding_is_sum_of_codebooks(tiny_base):
    model, tok = _build(tiny_base)
    lay = model.layout
    frame = torch.tensor(
        [[lay.codebook_offset(0) + 3, lay.codebook_offset(1) + 7, lay.codebook_offset(2) + 1]]
    )
    text = torch.tensor([[5, STREAM_PAD, STREAM_PAD]])
    emb_table = model.lm.model.embed_tokens.weight
    with torch.no_grad():
        e = model.embed(torch.stack([frame, text], dim=0).reshape(2, 1, 3))
    torch.testing.assert_close(e[0, 0], emb_table[frame[0]].sum(0))
    torch.testing.assert_close(e[1, 0], emb_table[5])


def test_output_shapes_and_head_ranges(tiny_base):
    model, tok = _build(tiny_base)
    tokens = _mixed_sequence(model, tok)[None]
    with torch.no_grad():
        out = model(tokens)
        last = model(tokens, logits_to_keep=1)
    T, lay = tokens.shape[1], model.layout
    assert out.logits.shape == (1, T, lay.size)
    assert out.extra_logits.shape == (1, T, lay.num_streams - 1, lay.codebook_size)
    assert last.logits.shape == (1, 1, lay.size)
    torch.testing.assert_close(last.extra_logits[:, 0], out.extra_logits[:, -1])
    with pytest.raises(SpeechLMError, match=r"tokens must be \[B, T, 3\]"):
        model(tokens[..., :2])


def test_kv_cache_step_by_step_equals_full_forward(tiny_base):
    from transformers import DynamicCache

    model, tok = _build(tiny_base)
    tokens = _mixed_sequence(model, tok, n_frames=6)[None]
    with torch.no_grad(), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        full = model(tokens)
        cache = DynamicCache(config=model.config)
        # prefill the first half in one call, then one position (text token or frame) per step
        split = tokens.shape[1] // 2
        out = model(tokens[:, :split], past_key_values=cache, use_cache=True)
        logits, extra = [out.logits], [out.extra_logits]
        for t in range(split, tokens.shape[1]):
            out = model(tokens[:, t : t + 1], past_key_values=out.past_key_values, use_cache=True)
            logits.append(out.logits)
            extra.append(out.extra_logits)
    # the cache goes to transformers under the name its version takes (no deprecation notice)
    assert not [w for w in caught if "past_key_values" in str(w.message)]
    torch.testing.assert_close(torch.cat(logits, 1), full.logits, atol=ATOL, rtol=0)
    torch.testing.assert_close(torch.cat(extra, 1), full.extra_logits, atol=ATOL, rtol=0)


def test_left_padded_batch_with_cache_equals_single(tiny_base):
    """Batched decoding: left padding + attention_mask + position_ids, then cached steps."""
    model, tok = _build(tiny_base)
    a = _mixed_sequence(model, tok, n_frames=6, seed=1)
    b = a[4:]  # shorter
    T, pad = a.shape[0], a.shape[0] - b.shape[0]
    batch = torch.full((2, T, model.num_streams), STREAM_PAD)
    batch[0], batch[1, pad:] = a, b
    mask = torch.ones(2, T, dtype=torch.long)
    mask[1, :pad] = 0
    pos = (mask.cumsum(-1) - 1).clamp_min(0)
    prefix = T - 3
    with torch.no_grad():
        out = model(
            batch[:, :prefix],
            attention_mask=mask[:, :prefix],
            position_ids=pos[:, :prefix],
            use_cache=True,
        )
        got = [out.logits[:, -1]]
        for t in range(prefix, T):
            out = model(
                batch[:, t : t + 1],
                attention_mask=mask[:, : t + 1],
                position_ids=pos[:, t : t + 1],
                past_key_values=out.past_key_values,
                use_cache=True,
            )
            got.append(out.logits[:, -1])
        ref_b = model(b[None]).logits[0]
    got = torch.stack(got, 1)  # logits at positions prefix-1 .. T-1
    torch.testing.assert_close(got[1], ref_b[prefix - 1 - pad :], atol=ATOL, rtol=0)


@pytest.mark.parametrize("attn", ["sdpa", "eager"])
def test_packed_row_equals_separate_examples(tiny_base, attn):
    model, tok = _build(tiny_base, attn=attn)
    a = _mixed_sequence(model, tok, n_frames=4, seed=2)
    b = _mixed_sequence(model, tok, n_frames=7, seed=3)[3:]
    c = _mixed_sequence(model, tok, n_frames=2, seed=4)[:9]
    packed = torch.cat([a, b, c])[None]
    pos = torch.cat([torch.arange(len(x)) for x in (a, b, c)])[None]
    mask = torch.ones(packed.shape[:2], dtype=torch.bool)
    labels = shift_labels(packed, mask, pos)
    with torch.no_grad():
        out = model(packed, position_ids=pos, labels=labels, return_logits=True)
        sep = [
            model(
                x[None],
                labels=shift_labels(x[None], torch.ones(1, len(x), dtype=torch.bool)),
                return_logits=True,
            )
            for x in (a, b, c)
        ]
    torch.testing.assert_close(out.logits, torch.cat([s.logits for s in sep], 1), atol=ATOL, rtol=0)
    torch.testing.assert_close(
        out.extra_logits, torch.cat([s.extra_logits for s in sep], 1), atol=ATOL, rtol=0
    )
    # the same targets, so the same summed loss (no target crosses an example boundary)
    torch.testing.assert_close(out.loss_sum, sum(s.loss_sum for s in sep), atol=1e-4, rtol=0)
    assert out.count.tolist() == sum(s.count for s in sep).tolist()
    # without position ids the examples would see each other: the test can fail
    with torch.no_grad():
        leaky = model(packed).logits
    assert (leaky[0, len(a) :] - out.logits[0, len(a) :]).abs().max() > 1e-3


def test_per_head_loss_masking_matches_hand_computation(tiny_base):
    model, tok = _build(tiny_base)
    lay = model.layout
    tokens = _mixed_sequence(model, tok, n_frames=5)[None]
    T = tokens.shape[1]
    mask = torch.ones(1, T, dtype=torch.bool)
    mask[0, :3] = False  # the first tokens are condition: no targets
    labels = shift_labels(tokens, mask)
    out = model(tokens, labels=labels, return_logits=True, return_token_loss=True)

    logits, extra = out.logits[0].float(), out.extra_logits[0].float()
    y = labels[0]
    text_sum, cb_sums = 0.0, [0.0] * lay.num_streams
    n_text, n_cb = 0, [0] * lay.num_streams
    for t in range(T):
        if y[t, 0] == IGNORE_ID:
            assert (y[t] == IGNORE_ID).all()
            continue
        ce = F.cross_entropy(logits[t], y[t, 0]).item()
        if lay.is_codec(int(y[t, 0])):
            cb_sums[0] += ce
            n_cb[0] += 1
            for k in range(1, lay.num_streams):
                local = y[t, k] - lay.codebook_offset(k)
                cb_sums[k] += F.cross_entropy(extra[t, k - 1], local).item()
                n_cb[k] += 1
        else:  # text / boundary target: main head only
            assert (y[t, 1:] == IGNORE_ID).all()
            text_sum += ce
            n_text += 1
    assert n_text > 0 and n_cb[0] == 5
    # per head: main head = text + codebook 1, then codebooks 2..L'
    assert out.count.tolist() == [n_text + n_cb[0]] + n_cb[1:]
    expect = torch.tensor([text_sum + cb_sums[0]] + cb_sums[1:])
    torch.testing.assert_close(out.loss_sum.detach(), expect, atol=1e-4, rtol=1e-5)
    assert out.loss.item() == pytest.approx(expect.sum().item() / (n_text + sum(n_cb)), rel=1e-5)
    # report split and per-token losses agree with the sums
    assert out.detail_counts.tolist() == [n_text] + n_cb
    torch.testing.assert_close(
        out.detail_sums, torch.tensor([text_sum] + cb_sums), atol=1e-4, rtol=1e-5
    )
    torch.testing.assert_close(out.token_loss.sum((0, 1)), out.loss_sum.detach())
    assert (out.token_loss[labels == IGNORE_ID] == 0).all()
    names = out.head_losses()
    assert list(names) == ["text", "cb1", "cb2", "cb3"]
    assert names["cb2"] == pytest.approx(cb_sums[1] / 5, rel=1e-4)


def test_label_weights_weigh_sums_and_counts(tiny_base):
    model, tok = _build(tiny_base)
    tokens = _mixed_sequence(model, tok, n_frames=5)[None]
    T = tokens.shape[1]
    mask = torch.ones(1, T, dtype=torch.bool)
    mask[0, :3] = False
    labels = shift_labels(tokens, mask)
    plain = model(tokens, labels=labels, return_token_loss=True)
    w = torch.linspace(0.1, 2.0, T)[None]
    out = model(tokens, labels=labels, return_token_loss=True, label_weights=w)
    has = (labels != IGNORE_ID).float()  # [1, T, L']
    expect_sum = (plain.token_loss * w[..., None] * has).sum((0, 1))
    torch.testing.assert_close(out.loss_sum.detach(), expect_sum, atol=1e-4, rtol=1e-5)
    torch.testing.assert_close(out.count, (w[..., None] * has).sum((0, 1)))
    assert out.loss.item() == pytest.approx(float(expect_sum.sum() / (w[..., None] * has).sum()))
    torch.testing.assert_close(out.token_loss, plain.token_loss)  # per-token: unweighted
    ones = model(tokens, labels=labels, label_weights=torch.ones(1, T))  # weight 1 = no weights
    assert ones.loss.item() == pytest.approx(plain.loss.item(), rel=1e-6)
    with pytest.raises(SpeechLMError, match="label_weights"):
        model(tokens, labels=labels, label_weights=torch.ones(T))


def test_text_targets_do_not_train_parallel_heads(tiny_base):
    model, tok = _build(tiny_base)
    ids = torch.tensor([tok.encode("the cat sat on the mat.")])
    tokens = torch.full((*ids.shape, 3), STREAM_PAD)
    tokens[..., 0] = ids
    labels = shift_labels(tokens, torch.ones(ids.shape, dtype=torch.bool))
    out = model(tokens, labels=labels)
    out.loss.backward()
    assert out.count[1:].tolist() == [0, 0] and out.detail_counts[1:].tolist() == [0, 0, 0]
    for head in model.extra_heads:  # run on 0 rows: a zero gradient, not None (DDP/FSDP)
        assert head.weight.grad is not None and head.weight.grad.abs().max() == 0
    assert model.lm.model.layers[0].mlp.up_proj.weight.grad.abs().max() > 0
    with pytest.raises(SpeechLMError, match="codebook-2 ids"):
        bad = labels.clone()
        bad[0, 0, 1] = 5  # a text id in stream 1
        model(tokens, labels=bad)


def test_training_steps_lower_the_loss(tiny_base):
    model, tok = _build(tiny_base)
    model.train()
    tokens = torch.stack([_mixed_sequence(model, tok, n_frames=8, seed=s) for s in range(2)])
    labels = shift_labels(tokens, torch.ones(tokens.shape[:2], dtype=torch.bool))
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    first = None
    for _ in range(15):
        out = model(tokens, labels=labels)
        opt.zero_grad()
        out.loss.backward()
        opt.step()
        first = first if first is not None else out.head_losses()
    last = model(tokens, labels=labels).head_losses()
    for name in ("text", "cb1", "cb2", "cb3"):
        assert last[name] < 0.7 * first[name], (name, first, last)


def test_gradient_checkpointing_gives_the_same_gradients(tiny_base):
    model, tok = _build(tiny_base)
    model.train()
    tokens = _mixed_sequence(model, tok, n_frames=6)[None]
    labels = shift_labels(tokens, torch.ones(tokens.shape[:2], dtype=torch.bool))

    def grads():
        model.zero_grad()
        model(tokens, labels=labels).loss.backward()
        return [p.grad.clone() for p in model.parameters()]

    plain = grads()
    assert enable_activation_checkpointing(model) == 1
    assert model.lm.model.gradient_checkpointing
    for a, b in zip(plain, grads()):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5)
