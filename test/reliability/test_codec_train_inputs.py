"""Codec training on broken audio: NaN samples or a truncated WAV in ``data.train`` must stop
``codec_train`` with one line naming the utterance before any step runs (NaN audio used to
train silently to NaN losses and export a NaN codec)."""

from __future__ import annotations

import pytest
from rel_helpers import (
    assert_one_line_error,
    assert_unchanged,
    call_main,
    tiny_codec_train_config,
    tree_hashes,
)

from espnet_codec_lm.testing.audio import make_data_dir, write_nan_wav, write_truncated_wav

UTT = "spk1-utt001"


def _config(path, data):
    # the trainer's default losses (discriminators on): the inputs are read as in a real run
    return tiny_codec_train_config(path, data, loss={})


@pytest.mark.parametrize(
    "kind, write, what",
    [("nan", write_nan_wav, "NaN"), ("truncated", write_truncated_wav, "truncated")],
)
def test_codec_train_refuses_broken_audio(tmp_path, kind, write, what):
    data = make_data_dir(tmp_path / "data", n_utts=3, seconds=0.5)
    write(data / "wav" / f"{UTT}.wav")
    exp = tmp_path / "exp"
    exp.mkdir()
    (exp / "train_log.jsonl").write_text('{"step": 1}\n', encoding="utf-8")  # an earlier run's
    cfg = _config(tmp_path / "codec.yaml", data)
    before = tree_hashes(tmp_path)
    res = call_main("codec_train", "--config", cfg, "--exp_dir", exp)
    assert_one_line_error(res, UTT, what)
    assert_unchanged(before, tree_hashes(tmp_path))
    assert not (exp / "codec").exists()
