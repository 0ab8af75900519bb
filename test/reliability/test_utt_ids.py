"""Utterance ids that are not safe file names: validation names each one (file, line, why), the
stages that read ids refuse them, and every writer that names a file after an id builds the
path through ``fileio.id_path``, which cannot leave its output directory."""

from __future__ import annotations

import kaldiio
import numpy as np
import pytest
from rel_helpers import (
    assert_one_line_error,
    assert_unchanged,
    call_main,
    make_tiny_codec,
    tree_hashes,
)

from espnet_codec_lm.testing.audio import make_data_dir
from espnet_codec_lm.utils.fileio import UnsafeIdError, id_path, unsafe_id_reason

UTT = "spk1-utt001"
BAD_IDS = {  # id -> what the message must say (ids a Kaldi table line can hold)
    "slash": ("spk1-../../evil", "contains '/'"),
    "backslash": ("spk1-a\\b", "contains '\\'"),
    "dotdot": ("..", "is '..'"),
    "hidden": (".spk1-utt001", "starts with '.'"),
    "control": ("spk1-a\x01b", "control character"),
}


def _rename(d, old: str, new: str) -> None:
    """Rename utterance ``old`` to ``new`` in every table of data dir ``d`` (ids, not paths)."""
    for f in d.iterdir():
        if not f.is_file():
            continue
        lines = []
        for ln in f.read_text(encoding="utf-8").splitlines():
            key, _, value = ln.partition(" ")
            if key == old:
                key = new
            if f.name == "spk2utt":
                value = " ".join(new if t == old else t for t in value.split())
            lines.append(f"{key} {value}")
        f.write_text("".join(f"{ln}\n" for ln in sorted(lines)), encoding="utf-8")


@pytest.mark.parametrize(
    "uid", ["", " x", "a b", "a\tb", ".", "..", ".x", "a/b", "a\\b", "x\x00", "../x", "a/../b"]
)
def test_id_path_refuses_every_unsafe_id(tmp_path, uid):
    assert unsafe_id_reason(uid) is not None
    with pytest.raises(UnsafeIdError) as e:
        id_path(tmp_path / "wav", uid, ".wav")
    assert str(tmp_path / "wav") in str(e.value) and "\n" not in str(e.value)


def test_id_path_of_a_safe_id_is_a_direct_child(tmp_path):
    for uid in ("spk1-utt001", "a..b", "BAC009S0100W0121", "中文-1", "x.y"):
        p = id_path(tmp_path, uid, ".wav", prefix="spec_")
        assert p.parent == tmp_path and p.name == f"spec_{uid}.wav"


@pytest.mark.parametrize("kind", sorted(BAD_IDS))
def test_validate_names_the_unsafe_id(tmp_path, kind):
    uid, why = BAD_IDS[kind]
    d = make_data_dir(tmp_path / "data", n_utts=4, seconds=0.4)
    _rename(d, UTT, uid)
    before = tree_hashes(tmp_path)
    res = call_main("validate_data_dir", d, "--out", tmp_path / "clean")
    line = assert_one_line_error(res, f"{d}/utt2spk:", f"'{uid}'", "not a safe file name", why)
    assert "utt2spk:" in line
    assert not (tmp_path / "clean").exists()
    assert_unchanged(before, tree_hashes(tmp_path))
    # the skip_bad policy drops it, counted and named
    res = call_main("validate_data_dir", d, "--out", tmp_path / "clean", "--skip_bad", "true")
    assert res.rc == 0, res.text
    assert "1 skipped as bad" in res.text
    assert uid not in (tmp_path / "clean" / "utt2spk").read_text(encoding="utf-8")
    skipped = (tmp_path / "clean" / "skipped_utts").read_text(encoding="utf-8")
    assert skipped.startswith(f"{uid} ") and "not a safe file name" in skipped


def test_reading_a_data_dir_refuses_an_unsafe_id(tmp_path):
    from espnet_codec_lm.data.data_dir import read_data_dir
    from espnet_codec_lm.data.kaldi_io import DataDirError

    d = make_data_dir(tmp_path / "data", n_utts=3, seconds=0.4)
    _rename(d, UTT, "../evil")
    with pytest.raises(DataDirError, match=r"utt2spk:\d+: utterance '\.\./evil': id is not a safe"):
        read_data_dir(d)


@pytest.fixture(scope="module")
def codec(tmp_path_factory):
    return make_tiny_codec(tmp_path_factory.mktemp("rel_ids_codec") / "codec")


def test_tokenize_refuses_an_unsafe_id(tmp_path, codec):
    d = make_data_dir(tmp_path / "data", n_utts=3, seconds=0.4)
    _rename(d, UTT, "spk1-../evil")
    before = tree_hashes(tmp_path)
    res = call_main("codec_tokenize", "--codec_dir", codec, "--data", d, "--out_dir",
                    tmp_path / "dump")  # fmt: skip
    assert_one_line_error(res, f"{d}/wav.scp:", "'spk1-../evil'", "contains '/'")
    assert not (tmp_path / "dump" / "codes.scp").exists()
    assert_unchanged(before, tree_hashes(tmp_path))


def test_codec_decode_never_writes_outside_out_dir(tmp_path, codec):
    rng = np.random.default_rng(0)
    scp = tmp_path / "codes" / "codes.scp"
    scp.parent.mkdir()
    ids = ["../../escaped", "a-ok"]
    spec = f"ark,scp:{scp.with_suffix('.ark')},{scp}"
    with kaldiio.WriteHelper(spec, write_function="numpy") as w:
        for k in sorted(ids):
            w(k, rng.integers(0, 16, (5, 3)).astype(np.int16))
    out = tmp_path / "x" / "resynth"
    res = call_main("codec_decode", "--codec_dir", codec, "--codes", scp, "--out_dir", out)
    assert_one_line_error(res, str(scp), "'../../escaped'", "not a safe file name")
    assert not list(tmp_path.rglob("escaped*"))
    assert not (out / "wav.scp").exists()


def test_decode_dir_refuses_an_unsafe_id(tmp_path):
    from espnet_codec_lm.decode.outputs import DecodeDir, DecodeDirError

    dd = DecodeDir(tmp_path / "dec", speech=True, num_samples=1, settings={"a": 1})
    codes = [np.zeros((4, 3), np.int64)]
    wavs = [np.zeros(1600, np.float32)]
    with pytest.raises(DecodeDirError, match=r"utterance '\.\./\.\./evil': id is not a safe"):
        dd.write_speech("../../evil", codes, [True], wavs, 16000)
    assert not list(tmp_path.rglob("evil*"))
    dd.write_speech("ok-1", codes, [True], wavs, 16000)
    assert (tmp_path / "dec" / "sample_0" / "wav" / "ok-1.wav").is_file()
