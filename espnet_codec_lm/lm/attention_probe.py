"""SDPA attention that also returns the probabilities of a few chosen heads.

The guided-attention loss (train/losses.py) needs the attention probabilities of two heads of
one layer. transformers' eager attention returns them, but for every head of every layer, and
it is slower than SDPA in all of them (~20% more time per training step of the mini model).
This module registers an attention implementation, ``sdpa_probe``, through transformers' public
``AttentionInterface`` / ``AttentionMaskInterface``: every layer runs SDPA (with SDPA's masks),
and a layer that :func:`probe_heads` marked also computes ``softmax(q k^T * scale + mask)`` for
its chosen heads and returns it as its attention weights, ``[B, len(heads), T, S]``, in the
order the heads were given. The other layers return None, which transformers leaves out of the
model's ``attentions``: with ``output_attentions=True`` it holds one tensor per probed layer, in
layer order. Without ``output_attentions`` nothing extra is computed (validation, decoding).

The probabilities are those the layer's SDPA uses (same projections, rotary embedding, mask and
scale; attention dropout is not applied to them, as the mini configs use none), and their
gradient flows into the layer's query and key projections, as with the eager attention.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from transformers import AttentionInterface
from transformers.integrations.sdpa_attention import sdpa_attention_forward
from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

PROBE_ATTENTION = "sdpa_probe"
_HEADS = "_probe_heads"  # attribute of an attention module: the heads it reports, or absent


def sdpa_probe_attention(module, query, key, value, attention_mask, scaling=None, **kwargs):
    """SDPA; plus, on a probed layer asked for its attentions, the chosen heads' probabilities."""
    record = kwargs.pop("output_attentions", False)
    out, _ = sdpa_attention_forward(
        module, query, key, value, attention_mask, scaling=scaling, **kwargs
    )
    heads = getattr(module, _HEADS, None)
    if heads is None or not record:
        return out, None
    q_idx = torch.as_tensor(heads, device=query.device)
    kv_idx = torch.div(q_idx, module.num_key_value_groups, rounding_mode="floor")
    q = query.index_select(1, q_idx)
    k = key.index_select(1, kv_idx)
    scale = scaling if scaling is not None else q.shape[-1] ** -0.5
    scores = torch.matmul(q.float(), k.float().transpose(-1, -2)) * scale  # [B, h, T, S]
    t, s = scores.shape[-2:]
    if attention_mask is None:  # SDPA's causal path: query i sees keys up to s - t + i
        keep = torch.ones(t, s, dtype=torch.bool, device=query.device).tril(s - t)
        scores = scores.masked_fill(~keep, float("-inf"))
    elif attention_mask.dtype == torch.bool:
        scores = scores.masked_fill(~attention_mask[..., :s], float("-inf"))
    else:
        scores = scores + attention_mask[..., :s].float()
    return out, torch.softmax(scores, dim=-1).to(query.dtype)


AttentionInterface.register(PROBE_ATTENTION, sdpa_probe_attention)
AttentionMaskInterface.register(PROBE_ATTENTION, sdpa_mask)


def probe_heads(lm, layers: Sequence[int], heads: Sequence[int]) -> None:
    """Switch the transformers causal LM ``lm`` to ``sdpa_probe`` and mark ``heads`` of
    ``layers`` (indices checked by the caller) to report their probabilities."""
    lm.set_attn_implementation(PROBE_ATTENTION)
    for i, layer in enumerate(lm.model.layers):
        attn = layer.self_attn
        if i in layers:
            setattr(attn, _HEADS, tuple(int(h) for h in heads))
        elif hasattr(attn, _HEADS):
            delattr(attn, _HEADS)
