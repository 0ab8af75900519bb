"""Held-out text batches for the perplexity monitor."""

from __future__ import annotations

import pytest
import torch

from espnet_codec_lm.lm.vocab import IGNORE_ID, STREAM_PAD
from espnet_codec_lm.train.evaluate import read_heldout_lines, text_ppl_batches


def _encode(line: str) -> list[int]:
    return [ord(c) - ord("a") + 1 for c in line]


def test_batches_shift_pad_and_count():
    lines = ["abc", "x", "de", "fghij"]  # "x" has no prediction and is skipped
    batches, tokens = text_ppl_batches(lines, _encode, 3, micro_batch=2, max_len=4, max_tokens=99)
    assert tokens == 2 + 1 + 3  # len - 1 per line, "fghij" cut to max_len 4
    b0 = batches[0]
    assert b0["input_ids"].shape == (2, 3, 3)
    assert b0["input_ids"][0, :, 0].tolist() == [1, 2, 3]
    assert b0["labels"][0, :, 0].tolist() == [2, 3, IGNORE_ID]
    assert b0["labels"][1, :, 0].tolist() == [5, IGNORE_ID, IGNORE_ID]  # "de" + padding
    assert (b0["input_ids"][..., 1:] == STREAM_PAD).all()
    assert (b0["labels"][..., 1:] == IGNORE_ID).all()
    assert torch.equal(b0["position_ids"][1], torch.arange(3))
    n_targets = sum(int((b["labels"] != IGNORE_ID).sum()) for b in batches)
    assert n_targets == tokens


def test_rank_split_and_token_cap():
    lines = ["ab", "cd", "ef", "gh", "ij"]
    _, capped = text_ppl_batches(lines, _encode, 1, 8, 16, max_tokens=3)
    assert capped == 3
    parts = [text_ppl_batches(lines, _encode, 1, 8, 16, 99, rank=r, world_size=2) for r in (0, 1)]
    assert [int((p[0][0]["labels"] != IGNORE_ID).sum()) for p in parts] == [3, 2]
    assert parts[0][1] == parts[1][1] == 5  # every rank knows the global count


def test_missing_file_is_named(tmp_path):
    with pytest.raises(ValueError, match="nope.txt: held-out text file not found"):
        read_heldout_lines(tmp_path / "nope.txt")


def test_prefix_is_context_only_and_scores_the_same_tokens():
    """eval.text_ppl_segment: each line follows a <text_start>-like prefix (the format a text LLM
    trained by the task pipeline knows); the scored targets stay exactly those of plain text."""
    lines = ["abc", "de"]
    plain, n_plain = text_ppl_batches(lines, _encode, 1, micro_batch=2, max_len=8, max_tokens=99)
    seg, n_seg = text_ppl_batches(lines, _encode, 1, 2, 8, 99, prefix=[50])
    assert n_seg == n_plain == 3
    b = seg[0]
    assert b["input_ids"][0, :, 0].tolist() == [50, 1, 2, 3]
    assert b["labels"][0, :, 0].tolist() == [IGNORE_ID, 2, 3, IGNORE_ID]
    assert b["labels"][1, :, 0].tolist() == [IGNORE_ID, 5, IGNORE_ID, IGNORE_ID]
    targets = lambda bs: sorted(int(x) for x in bs[0]["labels"][..., 0].flatten() if x >= 0)  # noqa: E731
    assert targets(seg) == targets(plain)
