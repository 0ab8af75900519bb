"""Loss bookkeeping: global-batch normalisation and per-head / per-task statistics.

The training loss of a step is ``sum of token losses / number of targets``, both summed over all
heads, micro-batches and ranks (every target token of the global batch weighs the same; a speech
frame has ``L'`` targets, a text token one). With ``loss_weights`` in the batch (the task
pipeline's ``loss_weighting: example``) both sums are weighted: ``sum w * loss / sum w``. Each micro-batch's backward uses
``loss_sum * world_size / global_count``: FSDP averages gradients over ranks, so the result is
exactly the gradient of the global mean, however the batch is split into processes and
accumulation steps. This needs the model to return *summed* losses with their counts:

    out["loss_sum"]   float [H]        summed cross-entropy per head
    out["count"]      int   [H]        targets per head
    out["token_loss"] float [B, T, H]  optional: per-position losses (0 where ignored), for the
                                       per-task breakdown
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch

from espnet_codec_lm.lm.vocab import IGNORE_ID
from espnet_codec_lm.train.distributed import DistEnv, all_reduce_sum

#: batch keys of DualSpeechLM's acoustic targets, passed to the model when present
ACOUSTIC_KEYS = ("ac_codes", "ac_lens", "ac_prompt", "ac_prompt_lens", "ac_cond")


def model_losses(out) -> dict[str, torch.Tensor]:
    """Normalise a model output (mapping or object with attributes) to the keys above."""

    def get(name):
        if isinstance(out, Mapping):
            return out.get(name)
        return getattr(out, name, None)

    loss_sum, count = get("loss_sum"), get("count")
    if loss_sum is None or count is None:
        raise TypeError("the model must return per-head 'loss_sum' and 'count'")
    res = {"loss_sum": loss_sum, "count": count}
    if get("token_loss") is not None:
        res["token_loss"] = get("token_loss")
    return res


def forward_batch(
    model: torch.nn.Module, batch: Mapping[str, torch.Tensor], return_attentions: bool = False
):
    """The model on a micro-batch, with labels and per-position losses (SpeechLM's signature);
    ``return_attentions``: with the probed heads' attention probabilities (guided attention)."""
    kwargs = {"return_attentions": True} if return_attentions else {}
    if batch.get("loss_weights") is not None:
        kwargs["label_weights"] = batch["loss_weights"]
    for key in ACOUSTIC_KEYS:  # DualSpeechLM's acoustic targets (espnet_codec_lm.dual.data)
        if key in batch:
            kwargs[key] = batch[key]
    return model(
        batch["input_ids"],
        labels=batch["labels"],
        position_ids=batch["position_ids"],
        return_token_loss=True,
        **kwargs,
    )


def guided_attention_sum(
    attentions: Sequence[torch.Tensor],
    spans: torch.Tensor,
    sigma: float,
) -> tuple[torch.Tensor, int]:
    """``(sum of penalties, frames)`` of the guided attention (train/config.py
    GuidedAttentionConfig). ``attentions``: one ``[B, heads, T, T]`` tensor per guided layer,
    holding the guided heads' probabilities (SpeechLM.probe_attention); ``spans`` ``[N, 5]`` =
    (row, text_lo, text_hi, speech_lo, speech_hi) of a packed micro-batch (tasks/packing.py
    alignment_span). A frame's penalty is averaged over the (layer, head) pairs, so it lies in
    [0, 1]."""
    dev = attentions[0].device
    total = attentions[0].new_zeros((), dtype=torch.float32)
    frames = 0
    for b, t_lo, t_hi, s_lo, s_hi in spans.tolist():
        n_text, n_frames = t_hi - t_lo, s_hi - s_lo
        j = (torch.arange(n_frames, device=dev, dtype=torch.float32) + 0.5) / n_frames
        n = (torch.arange(n_text, device=dev, dtype=torch.float32) + 0.5) / n_text
        prior = torch.exp(-((n[None, :] - j[:, None]) ** 2) / (2 * sigma**2))  # [T, N]
        for probs in attentions:
            a = probs[b, :, s_lo:s_hi, t_lo:t_hi]
            on_diagonal = (a.float() * prior).sum(-1)  # [heads, T]
            total = total + (1.0 - on_diagonal).mean(0).sum() / len(attentions)
        frames += n_frames
    return total, frames


def count_targets(batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """Target tokens of a micro-batch (all streams); with ``loss_weights`` (``[B, T]``, one
    weight per position for all its streams) their weighted count."""
    per_pos = (batch["labels"] != IGNORE_ID).sum(-1)
    if batch.get("loss_weights") is not None:
        return (per_pos.double() * batch["loss_weights"].double()).sum()
    if "ac_codes" in batch:  # acoustic decoder: every code, plus one end of speech per example
        return per_pos.sum() + batch["ac_codes"].ge(0).sum() + len(batch["ac_codes"])
    return per_pos.sum()


class LossStats:
    """Accumulates detached per-head and per-task sums; :meth:`reduce` sums them over ranks."""

    def __init__(self, num_heads: int, num_tasks: int) -> None:
        self.head_sum = torch.zeros(num_heads, dtype=torch.float64)
        self.head_count = torch.zeros(num_heads, dtype=torch.float64)
        self.task_sum = torch.zeros(max(num_tasks, 1), dtype=torch.float64)
        self.task_count = torch.zeros(max(num_tasks, 1), dtype=torch.float64)
        self.num_tasks = num_tasks

    def add(self, losses: dict[str, torch.Tensor], batch: Mapping[str, torch.Tensor]) -> None:
        self.head_sum += losses["loss_sum"].detach().double().cpu()
        self.head_count += losses["count"].detach().double().cpu()
        token_loss = losses.get("token_loss")
        if token_loss is None or self.num_tasks == 0 or "task_ids" not in batch:
            return
        task = batch["task_ids"].reshape(-1).cpu()
        per_pos = token_loss.detach().double().sum(-1).reshape(-1).cpu()
        per_cnt = (batch["labels"] != IGNORE_ID).sum(-1).reshape(-1).double().cpu()
        keep = task >= 0
        self.task_sum.index_add_(0, task[keep], per_pos[keep])
        self.task_count.index_add_(0, task[keep], per_cnt[keep])

    def reduce(self, env: DistEnv) -> LossStats:
        flat = torch.cat([self.head_sum, self.head_count, self.task_sum, self.task_count])
        flat = all_reduce_sum(flat, env)
        h, k = len(self.head_sum), len(self.task_sum)
        out = LossStats(h, self.num_tasks)
        out.head_sum, out.head_count = flat[:h], flat[h : 2 * h]
        out.task_sum, out.task_count = flat[2 * h : 2 * h + k], flat[2 * h + k :]
        return out

    @property
    def loss(self) -> float:
        n = float(self.head_count.sum())
        return float(self.head_sum.sum()) / n if n else math.nan

    def text_ppl(self) -> float:
        n = float(self.head_count[0])
        return math.exp(float(self.head_sum[0]) / n) if n else math.nan

    def as_dict(self, task_names: list[str]) -> dict[str, float]:
        """``loss``, ``loss/head<k>`` and ``loss/task/<name>`` (NaN-free: absent keys skipped)."""
        row = {"loss": self.loss}
        for i, (s, c) in enumerate(zip(self.head_sum.tolist(), self.head_count.tolist())):
            if c:
                row[f"loss/head{i}"] = s / c
        for i, name in enumerate(task_names[: self.num_tasks]):
            c = float(self.task_count[i])
            if c:
                row[f"loss/task/{name}"] = float(self.task_sum[i]) / c
        return row
