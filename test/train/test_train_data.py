"""The synthetic pipeline: valid packed rows, global sharding, exact position state."""

from __future__ import annotations

import torch

from espnet_codec_lm.lm.labels import shift_labels
from espnet_codec_lm.lm.vocab import IGNORE_ID, STREAM_PAD, VocabLayout
from espnet_codec_lm.train.data import SyntheticSource, SyntheticValid

LAYOUT = VocabLayout(text_vocab_size=50, text_rows=64, num_streams=3, codebook_size=16)


def test_rows_are_valid_packed_sequences():
    src = SyntheticSource(LAYOUT, micro_batch=3, max_len=40, min_example=4, max_example=12)
    b = src.next_batch()
    ids, labels, pos, task = b["input_ids"], b["labels"], b["position_ids"], b["task_ids"]
    assert ids.shape == labels.shape == (3, 40, 3) and pos.shape == task.shape == (3, 40)
    assert torch.equal(labels, shift_labels(ids, task >= 0, pos))  # the lm/ label contract
    # no target crosses an example boundary; padding has no target
    restarts = pos[:, 1:] == 0
    assert (labels[:, :-1][restarts] == IGNORE_ID).all()
    assert (labels[task < 0] == IGNORE_ID).all()
    # speech targets of stream k are codebook-k ids; text examples use stream 0 only
    for k in range(1, 3):
        lk = labels[..., k][labels[..., k] != IGNORE_ID]
        lo, hi = LAYOUT.codebook_range(k)
        assert lk.numel() and ((lk >= lo) & (lk < hi)).all()
    text = task == src.task_names.index("text_lm")
    assert text.any() and (ids[text][:, 1:] == STREAM_PAD).all()
    assert (ids[text][:, 0] < LAYOUT.text_vocab_size).all()


def test_global_numbering_makes_ranks_partition_the_stream():
    one = SyntheticSource(LAYOUT, 2, 24, seed=5)
    ranks = [SyntheticSource(LAYOUT, 2, 24, seed=5, rank=r, world_size=2) for r in range(2)]
    for _ in range(3):  # step s: 1 process takes 2 micro-batches, 2 processes take 1 each
        a = [one.next_batch() for _ in range(2)]
        b = [r.next_batch() for r in ranks]
        for x, y in zip(a, b):
            assert all(torch.equal(x[k], y[k]) for k in x)
    assert one.epoch == ranks[0].epoch == ranks[1].epoch == 6 / 64


def test_state_round_trip_resumes_the_stream():
    src = SyntheticSource(LAYOUT, 2, 24, seed=1)
    for _ in range(3):
        src.next_batch()
    state = src.state_dict()
    expected = src.next_batch()
    again = SyntheticSource(LAYOUT, 2, 24, seed=1)
    again.load_state_dict(state)
    got = again.next_batch()
    assert all(torch.equal(expected[k], got[k]) for k in expected)


def test_valid_set_is_fixed_and_split_over_ranks():
    src = SyntheticSource(LAYOUT, 2, 24)
    v1 = list(SyntheticValid(src, 3))
    assert len(v1) == 3 and torch.equal(
        v1[0]["input_ids"], list(SyntheticValid(src, 3))[0]["input_ids"]
    )
    r1 = SyntheticSource(LAYOUT, 2, 24, rank=1, world_size=2)
    assert len(list(SyntheticValid(r1, 3))) == 1
