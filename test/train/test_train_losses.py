"""Loss bookkeeping: per-head / per-task means and the global-batch normalisation."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from espnet_codec_lm.lm.vocab import IGNORE_ID
from espnet_codec_lm.train.distributed import DistEnv
from espnet_codec_lm.train.losses import LossStats, count_targets, model_losses


def test_per_head_and_per_task_means_by_hand():
    # 1 row, 3 positions, 2 heads; position 2 is padding (task -1, no labels)
    labels = torch.tensor([[[5, 7], [6, IGNORE_ID], [IGNORE_ID, IGNORE_ID]]])
    token_loss = torch.tensor([[[1.0, 3.0], [2.0, 0.0], [0.0, 0.0]]])
    batch = {"labels": labels, "task_ids": torch.tensor([[0, 1, -1]])}
    out = {
        "loss_sum": torch.tensor([3.0, 3.0]),
        "count": torch.tensor([2, 1]),
        "token_loss": token_loss,
    }
    stats = LossStats(num_heads=2, num_tasks=2)
    stats.add(model_losses(out), batch)
    stats.add(model_losses(out), batch)  # accumulation: the means stay the same
    row = stats.reduce(DistEnv()).as_dict(["asr", "text_lm"])
    assert row["loss"] == pytest.approx(6.0 / 3)  # all targets weigh the same
    assert row["loss/head0"] == pytest.approx(1.5) and row["loss/head1"] == pytest.approx(3.0)
    assert row["loss/task/asr"] == pytest.approx(4.0 / 2)  # position 0: 2 targets, 1 + 3
    assert row["loss/task/text_lm"] == pytest.approx(2.0)
    assert stats.text_ppl() == pytest.approx(math.exp(1.5))
    assert count_targets(batch) == 3


def test_model_losses_requires_sums_and_counts():
    with pytest.raises(TypeError, match="loss_sum"):
        model_losses({"loss": torch.tensor(1.0)})


class _TinyLM(torch.nn.Module):
    """Two heads over a linear map; returns summed losses as SpeechLM does."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.proj = torch.nn.Linear(3, 8)

    def forward(self, x, labels):
        logits = self.proj(x).view(*x.shape[:2], 2, 4)
        nll = F.cross_entropy(
            logits.reshape(-1, 4), labels.reshape(-1).clamp(min=0), reduction="none"
        ).view(labels.shape) * (labels != IGNORE_ID)
        return {"loss_sum": nll.sum((0, 1)), "count": (labels != IGNORE_ID).sum((0, 1))}


def test_global_normalisation_is_independent_of_the_split():
    """Gradient of the global mean == sum over 'ranks' and micro-batches of
    loss_sum * W / global_count, averaged over W (what FSDP's reduce-scatter does)."""
    g = torch.Generator().manual_seed(1)
    x = torch.randn(4, 6, 3, generator=g)
    labels = torch.randint(0, 4, (4, 6, 2), generator=g)
    labels[torch.rand(labels.shape, generator=g) < 0.4] = IGNORE_ID  # uneven target counts

    model = _TinyLM()
    out = model(x, labels)
    (out["loss_sum"].sum() / out["count"].sum()).backward()
    reference = model.proj.weight.grad.clone()

    for world, accum in ((1, 4), (2, 2), (4, 1)):
        model.zero_grad()
        total = float((labels != IGNORE_ID).sum())
        per_rank = []
        for r in range(world):
            rank_grad = torch.zeros_like(reference)
            for a in range(accum):
                i = r * accum + a
                model.zero_grad()
                o = model(x[i : i + 1], labels[i : i + 1])
                (o["loss_sum"].sum() * world / total).backward()
                rank_grad += model.proj.weight.grad
            per_rank.append(rank_grad)
        averaged = torch.stack(per_rank).mean(0)
        torch.testing.assert_close(averaged, reference, rtol=1e-5, atol=1e-7)


def test_guided_attention_penalty_by_hand():
    """Two text tokens, four frames: a head reading them in order pays 1 - G at the diagonal, a
    head looking elsewhere pays 1 per frame; the mean over heads, summed over frames."""
    from espnet_codec_lm.train.losses import guided_attention_sum

    T = 10
    attn = torch.zeros(2, 1, 2, T, T)  # layers, rows, guided heads, queries, keys
    attn[1, 0, 0, 4:6, 1] = 1.0  # layer 1, head 0: frames 0-1 read text token 0
    attn[1, 0, 0, 6:8, 2] = 1.0  # frames 2-3 read text token 1
    attn[1, 0, 1, 4:8, 9] = 1.0  # head 1 looks outside the text
    attn[0] = 0.5  # layer 0: every key 0.5 (not a distribution; the penalty is linear in it)
    attn.requires_grad_(True)
    spans = torch.tensor([[0, 1, 3, 4, 8]])  # row 0, text [1, 3), frames [4, 8)
    sigma = 0.2
    # frame j's centre (j + 0.5) / 4, token n's (n + 0.5) / 2: 0.125 / 0.25, 0.375 / 0.25, ...
    on_diag = math.exp(-(0.125**2) / (2 * sigma**2))
    total, frames = guided_attention_sum([attn[1]], spans, sigma)  # layer 1, heads 0 and 1
    assert frames == 4
    assert float(total) == pytest.approx(4 * ((1 - on_diag) + 1.0) / 2, rel=1e-6)
    total0, _ = guided_attention_sum([attn[1, :, :1]], spans, sigma)  # head 0 only
    assert float(total0) == pytest.approx(4 * (1 - on_diag), rel=1e-6)
    total0.backward()  # differentiable in the attention of the guided head
    assert attn.grad[0].abs().sum() == 0 and attn.grad[1, 0, 0, 4:8, 1:3].abs().sum() > 0
    assert attn.grad[1, 0, 1].abs().sum() == 0
    both, _ = guided_attention_sum([attn[1, :, :1], attn[0, :, :1]], spans, sigma)  # 2 layers
    # layer 0 puts 0.5 on both text tokens: frame j pays 1 - 0.5 * (G[j, 0] + G[j, 1])
    g = [
        [math.exp(-(((n + 0.5) / 2 - (j + 0.5) / 4) ** 2) / (2 * sigma**2)) for n in (0, 1)]
        for j in range(4)
    ]
    layer0 = sum(1 - 0.5 * (g0 + g1) for g0, g1 in g)
    assert float(both) == pytest.approx((4 * (1 - on_diag) + layer0) / 2, rel=1e-6)
    empty, n = guided_attention_sum([attn[1]], torch.zeros(0, 5, dtype=torch.long), 0.2)
    assert float(empty) == 0.0 and n == 0
