"""The USTokenizer model: 25 Hz frames, one 1,024-code codebook, the text loss against a hand
computation, frozen parts untouched, and the loss falling on a tiny overfit set."""

from __future__ import annotations

import numpy as np
import torch
from ustok_testutil import tiny_model_config, tiny_train_config

from espnet_codec_lm.ustokenizer.model import USTokenizer, load_text_llm, transcript_ids
from espnet_codec_lm.ustokenizer.trainer import USTokenizerTrainer, load_utterances


def _model(text_llm, whisper=""):
    cfg = tiny_model_config(text_llm, whisper)
    llm, tok = load_text_llm(cfg.text_llm)
    torch.manual_seed(0)
    model = USTokenizer(cfg, adapter_dim=llm.config.hidden_size)
    model.attach_text_llm(llm, tok)
    return model


def _wavs(seconds=(1.0, 0.7)):
    g = torch.Generator().manual_seed(0)
    return [0.1 * torch.randn(int(s * 16000), generator=g) for s in seconds]


def test_shapes_and_25hz_codes_of_one_1024_codebook(text_llm):
    model = _model(text_llm)
    assert (model.frame_rate, model.hop, model.stride) == (25.0, 640, 4)
    wavs = _wavs((1.0, 0.7, 0.01))
    feats, tokens = model.features(wavs)
    assert tokens.tolist() == [25, 18, 1]  # ceil(samples / 640)
    assert feats.shape == (3, 100, 80)  # log-mel at 100 Hz, 4 frames per token
    ids = [[5, 6, 7], [8], [9, 10]]
    out = model(wavs, ids)
    codes = out["codes"]
    assert codes.shape == (3, 25) and (codes[1, 18:] == -1).all() and (codes[2, 1:] == -1).all()
    valid = codes[codes >= 0]
    assert valid.numel() == 25 + 18 + 1 and int(valid.max()) < 1024
    assert model.quantizer.cfg.num_codebooks == 1 and model.codebook_size == 1024
    enc = model.encode(wavs[1])
    assert enc.shape == (18,) and enc.dtype == torch.int64 and 0 <= int(enc.min()) <= 1023


def test_whisper_front_end_is_50hz_and_stride_2_gives_25hz(text_llm, whisper_dir):
    model = _model(text_llm, whisper_dir)
    assert (model.frontend.frame_rate, model.stride, model.frame_rate) == (50.0, 2, 25.0)
    feats, tokens = model.features(_wavs((1.0, 0.5)))
    assert tokens.tolist() == [25, 13] and feats.shape == (2, 50, 16)
    assert model.encode(_wavs((0.7,))[0]).shape == (18,)


def test_text_loss_is_the_frozen_llms_cross_entropy_on_the_transcript_only(text_llm):
    model = _model(text_llm).eval()
    wavs = _wavs((0.2, 0.12))
    texts = [
        transcript_ids(model.text_tokenizer, model.llm, "the cat sat.", True),
        transcript_ids(model.text_tokenizer, model.llm, "a dog", True),
    ]
    assert texts[0][-1] == 0  # the LLM's end-of-text id closes each transcript
    feats, tokens = model.features(wavs)
    z_q, _, _ = model.quantize(model.encode_latent(feats, tokens), tokens)
    loss = model.text_loss(z_q, tokens, texts)
    # by hand, one utterance at a time (no padding): transcript token j of utterance i is
    # predicted by the logits at position T_i + j - 1
    nll = []
    emb = model.llm.get_input_embeddings()
    for i, ids in enumerate(texts):
        t = int(tokens[i])
        x = torch.cat([model.adapter(z_q[i, :t]), emb(torch.tensor(ids))])[None]
        logp = model.llm(inputs_embeds=x).logits[0].log_softmax(-1)
        nll += [-logp[t + j - 1, tok] for j, tok in enumerate(ids)]
    assert torch.allclose(loss, torch.stack(nll).mean(), atol=1e-5)
    # the speech frames are read (not scored): moving them changes the loss
    assert not torch.allclose(loss, model.text_loss(z_q + 1.0, tokens, texts))


def test_frozen_parts_do_not_move_and_the_loss_falls(text_llm, whisper_dir, data_dir):
    trainer = USTokenizerTrainer(tiny_train_config(text_llm, data_dir, whisper_dir))
    model = trainer.model
    llm_before = {k: v.clone() for k, v in model.llm.state_dict().items()}
    fe_before = {k: v.clone() for k, v in model.frontend.encoder.state_dict().items()}
    trainable_before = {k: v.clone() for k, v in model.state_dict().items()}
    utts = load_utterances(data_dir, model)
    assert len(utts) == 4 and all(u[2] for u in utts)
    first = [trainer.train_step(utts)["loss"] for _ in range(3)]
    for _ in range(27):
        last = trainer.train_step(utts)
    assert last["loss"] < 0.8 * first[0], (first, last)
    assert last["text"] < trainer.validate(utts)["valid_text"] + 1.0  # computed, finite
    assert all(torch.equal(v, model.llm.state_dict()[k]) for k, v in llm_before.items())
    assert all(torch.equal(v, model.frontend.encoder.state_dict()[k]) for k, v in fe_before.items())
    assert not any(p.requires_grad for p in model.llm.parameters())
    assert not any(p.requires_grad for p in model.frontend.encoder.parameters())
    moved = [k for k, v in trainable_before.items() if not torch.equal(v, model.state_dict()[k])]
    for part in ("down.", "encoder.", "quantizer.codebooks.0.embed", "decoder.", "adapter."):
        assert any(k.startswith(part) for k in moved), part
    assert not any(k.startswith(("llm.", "frontend.")) for k in model.state_dict())
    assert np.isfinite(last["grad_norm"])
