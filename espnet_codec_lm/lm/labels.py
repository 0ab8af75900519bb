"""Next-position labels from built sequences (doc/design.md "Sequences").

The label of position ``t`` is ``tokens[t + 1]`` where ``loss_mask[t + 1]``, else ``IGNORE_ID``,
per stream; ``STREAM_PAD`` streams become ``IGNORE_ID`` (a text target has a label in stream 0
only, so it trains the main head only). In a packed row, the last position of one example never
predicts the first token of the next: pass ``position_ids`` and every position followed by a
restart (``position_ids[t + 1] == 0``) gets no label.
"""

from __future__ import annotations

import numpy as np
import torch

from espnet_codec_lm.lm.vocab import IGNORE_ID, STREAM_PAD


def shift_labels(
    tokens: torch.Tensor | np.ndarray,
    loss_mask: torch.Tensor | np.ndarray,
    position_ids: torch.Tensor | np.ndarray | None = None,
) -> torch.Tensor:
    """``tokens [.., T, L']`` + ``loss_mask [.., T]`` (+ ``position_ids [.., T]``) -> labels
    ``[.., T, L']`` (int64 tensor) for :meth:`espnet_codec_lm.lm.model.SpeechLM.forward`."""
    tokens = torch.as_tensor(tokens, dtype=torch.long)
    loss_mask = torch.as_tensor(loss_mask, dtype=torch.bool)
    if tokens.dim() < 2 or loss_mask.shape != tokens.shape[:-1]:
        raise ValueError(
            f"tokens [.., T, L'] and loss_mask [.., T] disagree: {tuple(tokens.shape)} vs "
            f"{tuple(loss_mask.shape)}"
        )
    labels = torch.full_like(tokens, IGNORE_ID)
    nxt = tokens[..., 1:, :]
    keep = loss_mask[..., 1:].clone()
    if position_ids is not None:
        position_ids = torch.as_tensor(position_ids, dtype=torch.long)
        if position_ids.shape != loss_mask.shape:
            raise ValueError(
                f"position_ids {tuple(position_ids.shape)} must match loss_mask "
                f"{tuple(loss_mask.shape)}"
            )
        keep &= position_ids[..., 1:] != 0
    keep = keep.unsqueeze(-1) & nxt.ne(STREAM_PAD)
    labels[..., :-1, :] = torch.where(keep, nxt, torch.full_like(nxt, IGNORE_ID))
    return labels
