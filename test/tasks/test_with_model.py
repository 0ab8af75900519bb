"""The batches feed the speech LM as they are: a tiny SpeechLM trains on them."""

from __future__ import annotations

import torch

from espnet_codec_lm.tasks.dataset import TaskDataset


def test_a_tiny_speech_lm_learns_from_task_batches(syn, corpora, bank):
    from espnet_codec_lm.lm.model import SpeechLM
    from espnet_codec_lm.testing.tiny_models import tiny_qwen2_config

    cfg = syn.data_config(max_len=256, batch_size=2, examples_per_epoch=40)
    ds = TaskDataset(cfg, syn.layout, syn.tokenizer, corpora=corpora, bank=bank)
    batch = ds.get_batch(0, 0)
    torch.manual_seed(0)
    model = SpeechLM(tiny_qwen2_config(syn.layout.size, max_position_embeddings=512), syn.layout)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(8):
        out = model(
            batch["input_ids"],
            labels=batch["labels"],
            position_ids=batch["position_ids"],
            return_token_loss=True,
        )
        opt.zero_grad()
        out.loss.backward()
        opt.step()
        losses.append(out.loss.item())
    assert losses[-1] < losses[0] - 0.5, losses
    # every target position has a task id, and per-task losses can be read off token_loss
    has_target = (batch["labels"] != -100).any(-1)
    assert torch.all(batch["task_ids"][has_target] >= 0)
    assert int(out.count.sum()) == int((batch["labels"] != -100).sum())
