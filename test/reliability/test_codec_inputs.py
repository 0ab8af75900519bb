"""Codec stages: ``codec_tokenize`` on broken audio, killed mid-write and rerun, rerun after
success; ``codec_decode`` on out-of-range codes; ``codec_eval`` on unusable audio. Each bad
input is one line naming the utterance, and codes / WAVs already written stay as they were."""

from __future__ import annotations

import signal

import kaldiio
import numpy as np
import pytest
from rel_fault import run_forked
from rel_helpers import (
    assert_one_line_error,
    assert_unchanged,
    call_main,
    make_tiny_codec,
    tree_hashes,
)

from espnet_codec_lm.testing.audio import (
    make_data_dir,
    speech_like,
    write_corrupt_wav,
    write_empty_wav,
    write_nan_wav,
    write_truncated_wav,
    write_wav,
)

UTT = "spk1-utt001"


@pytest.fixture(scope="module")
def codec(tmp_path_factory):
    return make_tiny_codec(tmp_path_factory.mktemp("rel_codec") / "codec")


@pytest.fixture
def sets(tmp_path, codec):
    """``(train, test)`` data dirs; ``train`` is already tokenized into ``dump/train``."""
    train = make_data_dir(tmp_path / "data" / "train", n_utts=3, seconds=0.4, seed=1)
    test = make_data_dir(tmp_path / "data" / "test", n_utts=4, seconds=0.4, seed=2)
    res = call_main("codec_tokenize", "--codec_dir", codec, "--data", train, "--out_dir",
                    tmp_path / "dump" / "train")  # fmt: skip
    assert res.rc == 0, res.text
    return train, test


def _tokenize(codec, data, out, *extra):
    return call_main("codec_tokenize", "--codec_dir", codec, "--data", data, "--out_dir", out,
                     *extra)  # fmt: skip


BAD_AUDIO = {
    "missing": (lambda p: p.unlink(), ""),
    "corrupt": (write_corrupt_wav, ""),
    "truncated": (write_truncated_wav, "truncated"),
    "empty": (write_empty_wav, "empty"),
    "nan": (write_nan_wav, "NaN"),
}


@pytest.mark.parametrize("kind", sorted(BAD_AUDIO))
def test_tokenize_bad_audio(tmp_path, codec, sets, kind):
    _, test = sets
    make, what = BAD_AUDIO[kind]
    make(test / "wav" / f"{UTT}.wav")
    before = tree_hashes(tmp_path)
    res = _tokenize(codec, test, tmp_path / "dump" / "test")
    assert_one_line_error(res, UTT, what)
    after = tree_hashes(tmp_path)
    # the finished set is untouched; the failed one has no final codes.scp (not "done")
    assert_unchanged(before, after)
    assert not (tmp_path / "dump" / "test" / "codes.scp").exists()


def test_tokenize_resamples_other_rates(tmp_path, codec, sets):
    """Policy (codec/audio.py reads through the data layer): an 8 kHz or stereo file is
    resampled / averaged, not rejected; its codes cover the same duration."""
    _, test = sets
    write_wav(test / "wav" / f"{UTT}.wav", np.stack([speech_like(0.4, 8000)] * 2, axis=1), 8000)
    assert _tokenize(codec, test, tmp_path / "dump" / "test").rc == 0
    codes = _arrays(tmp_path / "dump" / "test" / "codes.scp")
    assert codes[UTT].shape == codes["spk0-utt000"].shape  # 0.4 s at 50 Hz either way


def _arrays(scp) -> dict[str, np.ndarray]:
    return {k: np.asarray(v) for k, v in kaldiio.load_scp(str(scp)).items()}


def _scp_ids(scp) -> list[str]:
    return [ln.split()[0] for ln in scp.read_text(encoding="utf-8").splitlines()]


def test_tokenize_killed_mid_write_then_rerun(tmp_path, codec, sets):
    """SIGKILL while the 3rd utterance's entry is half written to the ark: the rerun encodes
    only what is missing and the result has every utterance once, equal to an uninterrupted run."""
    _, test = sets
    ref = tmp_path / "dump" / "ref"
    assert _tokenize(codec, test, ref).rc == 0
    out = tmp_path / "dump" / "test"
    args = ["--codec_dir", str(codec), "--data", str(test), "--out_dir", str(out)]
    log = tmp_path / "log"
    assert run_forked("codec_tokenize", args, log, "tokenize_torn", 3) == -signal.SIGKILL
    shard = out / "codes.0.scp"
    assert len(_scp_ids(shard)) == 2 and not (out / "codes.scp").exists()
    assert run_forked("codec_tokenize", args, log) == 0, log.read_text()[-2000:]
    ids = _scp_ids(out / "codes.scp")
    assert ids == sorted(set(ids)) == _scp_ids(ref / "codes.scp")  # none missing, none twice
    a, b = _arrays(ref / "codes.scp"), _arrays(out / "codes.scp")
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert "encoded 2 utterances now (4 total)" in log.read_text()


def test_tokenize_rerun_after_success_changes_nothing(tmp_path, codec, sets):
    before = tree_hashes(tmp_path)
    assert _tokenize(codec, sets[0], tmp_path / "dump" / "train").rc == 0
    after = tree_hashes(tmp_path)
    assert_unchanged(before, after)
    assert set(after) == set(before)


def test_same_codec_same_codes(tmp_path, codec, sets):
    """Encoding is deterministic: a second tokenization gives identical arrays and ark bytes."""
    train, _ = sets
    assert _tokenize(codec, train, tmp_path / "dump" / "again").rc == 0
    a = (tmp_path / "dump" / "train" / "codes.ark").read_bytes()
    assert a == (tmp_path / "dump" / "again" / "codes.ark").read_bytes()


def _write_codes(d, arrays):
    d.mkdir(parents=True, exist_ok=True)
    with kaldiio.WriteHelper(f"ark,scp:{d}/codes.ark,{d}/codes.scp", write_function="numpy") as w:
        for k in sorted(arrays):
            w(k, arrays[k])
    return d / "codes.scp"


@pytest.mark.parametrize("defect", ["out_of_range", "negative", "too_many_codebooks"])
def test_codec_decode_bad_codes(tmp_path, codec, sets, defect):
    scp = tmp_path / "dump" / "train" / "codes.scp"
    out = tmp_path / "resynth"
    assert call_main("codec_decode", "--codec_dir", codec, "--codes", scp, "--out_dir", out).rc == 0
    arrays = _arrays(scp)
    utt = sorted(arrays)[1]
    a = arrays[utt].astype(np.int16)
    if defect == "out_of_range":
        a[1, 0] = 16
    elif defect == "negative":
        a[0, 2] = -3
    else:
        a = np.concatenate([a, a], axis=1)  # 6 codebooks for a 3-codebook codec
    arrays[utt] = a
    bad = _write_codes(tmp_path / "bad", arrays)
    before = tree_hashes(tmp_path)
    # other codes into the same out_dir are refused as such (codec_decode.yaml) ...
    res = call_main("codec_decode", "--codec_dir", codec, "--codes", bad, "--out_dir", out)
    assert_one_line_error(res, "codec_decode.yaml", "other settings", "--redo")
    # ... and into a new one, the bad utterance is named; nothing written before is touched
    out2 = tmp_path / "resynth_bad"
    res = call_main("codec_decode", "--codec_dir", codec, "--codes", bad, "--out_dir", out2)
    assert_one_line_error(res, str(bad), utt)
    assert_unchanged(before, tree_hashes(tmp_path))
    assert not (out2 / "wav" / f"{utt}.wav").exists() and not (out2 / "wav.scp").exists()


def test_codec_eval_bad_audio(tmp_path, codec, sets):
    _, test = sets
    write_nan_wav(test / "wav" / f"{UTT}.wav")
    res = call_main("codec_eval", "--codec_dir", codec, "--data", test, "--out_dir",
                    tmp_path / "eval", "--n_q", "1", "3", "--no_pesq", "--num_plots", "0")  # fmt: skip
    assert_one_line_error(res, UTT, "NaN")
