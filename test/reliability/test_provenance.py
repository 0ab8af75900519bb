"""Provenance of codes and resynthesised WAVs: ``codes.yaml`` (codec checksum, n_q, codebook
size, frame rate, audio-list checksum) beside the codes and ``codec_decode.yaml`` beside the
WAVs. A rerun with another codec, n_q or data is refused with one line naming what changed
(``--redo`` removes every output of the stage, shards included, and starts over), so outputs of
two settings are never mixed in one ``codes.scp`` nor kept as "nothing to do"."""

from __future__ import annotations

import signal

import kaldiio
import numpy as np
import pytest
import yaml
from rel_fault import run_forked
from rel_helpers import (
    assert_one_line_error,
    assert_unchanged,
    call_main,
    make_tiny_codec,
    tree_hashes,
)

from espnet_codec_lm.testing.audio import make_data_dir, speech_like, write_nan_wav, write_wav


@pytest.fixture(scope="module")
def codecs(tmp_path_factory):
    root = tmp_path_factory.mktemp("rel_prov")
    return make_tiny_codec(root / "codec_a", seed=0), make_tiny_codec(root / "codec_b", seed=1)


def _tok(codec, data, out, *extra):
    return call_main("codec_tokenize", "--codec_dir", codec, "--data", data, "--out_dir", out,
                     *extra)  # fmt: skip


def _arrays(scp) -> dict[str, np.ndarray]:
    return {k: np.asarray(v) for k, v in kaldiio.load_scp(str(scp)).items()}


def test_codes_yaml_records_what_made_the_codes(tmp_path, codecs):
    a, _ = codecs
    d = make_data_dir(tmp_path / "data", n_utts=2, seconds=0.4)
    assert _tok(a, d, tmp_path / "dump", "--n_q", "2").rc == 0
    p = yaml.safe_load((tmp_path / "dump" / "codes.yaml").read_text())
    assert p["n_q"] == 2 and p["codebook_size"] == 16 and p["frame_rate"] > 0
    assert len(p["codec"]["sha256"]) == 64 and len(p["data"]["sha256"]) == 64
    assert p["sample_rate"] == 16000 and p["dtype"] == "int16"


def test_resume_with_another_codec_is_refused_then_redone(tmp_path, codecs):
    a, b = codecs
    d = make_data_dir(tmp_path / "data", n_utts=4, seconds=0.4)
    out = tmp_path / "dump"
    args = ["--codec_dir", str(a), "--data", str(d), "--out_dir", str(out)]
    assert (
        run_forked("codec_tokenize", args, tmp_path / "log", "tokenize_torn", 3) == -signal.SIGKILL
    )
    before = tree_hashes(out)
    res = _tok(b, d, out)
    assert_one_line_error(res, str(out / "codes.yaml"), "other settings", "codec.sha256", "--redo")
    assert_unchanged(before, tree_hashes(out))
    assert set(tree_hashes(out)) == set(before)
    res = _tok(b, d, out, "--redo")
    assert res.rc == 0, res.text
    assert _tok(b, d, tmp_path / "clean_b").rc == 0
    x, y = _arrays(out / "codes.scp"), _arrays(tmp_path / "clean_b" / "codes.scp")
    assert x.keys() == y.keys() and all(np.array_equal(x[k], y[k]) for k in x)
    assert sorted(p.name for p in out.iterdir()) == [
        "codes.ark", "codes.num_frames", "codes.scp", "codes.yaml"
    ]  # fmt: skip


@pytest.mark.parametrize("change", ["n_q", "data"])
def test_finished_codes_of_other_settings_are_not_kept(tmp_path, codecs, change):
    a, _ = codecs
    d = make_data_dir(tmp_path / "data", n_utts=3, seconds=0.4, seed=1)
    out = tmp_path / "dump"
    assert _tok(a, d, out).rc == 0
    before = tree_hashes(out)
    if change == "n_q":
        res = _tok(a, d, out, "--n_q", "2")
        assert_one_line_error(res, str(out / "codes.yaml"), "n_q: 3 -> 2")
    else:
        other = make_data_dir(tmp_path / "other", n_utts=2, seconds=0.4, seed=2)
        res = _tok(a, other, out)
        assert_one_line_error(res, str(out / "codes.yaml"), "data.sha256")
    assert_unchanged(before, tree_hashes(out))


def test_redo_removes_the_shards_a_failed_run_left(tmp_path, codecs):
    a, _ = codecs
    d = make_data_dir(tmp_path / "data", n_utts=4, seconds=0.4)
    good = (d / "wav" / "spk1-utt003.wav").read_bytes()
    write_nan_wav(d / "wav" / "spk1-utt003.wav")
    out = tmp_path / "dump"
    res = _tok(a, d, out, "--nj", "1")
    assert_one_line_error(res, "spk1-utt003", "NaN")
    assert (out / "codes.0.scp").is_file() and not (out / "codes.scp").exists()
    (d / "wav" / "spk1-utt003.wav").write_bytes(good)
    res = _tok(a, d, out, "--redo")
    assert res.rc == 0, res.text
    assert "removing 3 file(s)" in res.text  # codes.yaml, codes.0.ark, codes.0.scp
    assert "encoded 4 utterances now (4 total)" in res.text
    assert not list(out.glob("codes.0.*"))


def test_finished_codes_without_codes_yaml_are_kept_with_a_warning(tmp_path, codecs):
    a, b = codecs
    d = make_data_dir(tmp_path / "data", n_utts=2, seconds=0.4)
    out = tmp_path / "dump"
    assert _tok(a, d, out).rc == 0
    (out / "codes.yaml").unlink()  # as an older version left it
    before = tree_hashes(out)
    res = _tok(b, d, out)
    assert res.rc == 0 and "made before provenance was recorded" in res.text
    assert_unchanged(before, tree_hashes(out))


def test_codec_decode_with_another_n_q_is_refused_then_redone(tmp_path, codecs):
    a, _ = codecs
    d = make_data_dir(tmp_path / "data", n_utts=2, seconds=0.4)
    assert _tok(a, d, tmp_path / "dump").rc == 0
    scp = tmp_path / "dump" / "codes.scp"
    out = tmp_path / "resynth"
    dec = ["codec_decode", "--codec_dir", a, "--codes", scp, "--out_dir", out]
    assert call_main(*dec).rc == 0
    before = tree_hashes(out)
    res = call_main(*dec, "--n_q", "1")
    assert_one_line_error(res, str(out / "codec_decode.yaml"), "n_q: 0 -> 1", "--redo")
    assert_unchanged(before, tree_hashes(out))
    assert call_main(*dec, "--n_q", "1", "--redo").rc == 0
    after = tree_hashes(out)
    wavs = [k for k in before if k.endswith(".wav")]
    assert wavs and all(after[k] != before[k] for k in wavs)  # remade with 1 codebook
    assert call_main(*dec, "--n_q", "1").rc == 0  # same settings: nothing to redo
    assert tree_hashes(out) == after


def test_codec_decode_into_wavs_of_unknown_origin_is_refused(tmp_path, codecs):
    a, _ = codecs
    d = make_data_dir(tmp_path / "data", n_utts=2, seconds=0.4)
    assert _tok(a, d, tmp_path / "dump").rc == 0
    out = tmp_path / "resynth"
    write_wav(out / "wav" / "spk0-utt000.wav", speech_like(0.3))
    res = call_main("codec_decode", "--codec_dir", a, "--codes", tmp_path / "dump" / "codes.scp",
                    "--out_dir", out)  # fmt: skip
    assert_one_line_error(res, str(out / "wav"), "without codec_decode.yaml")


@pytest.mark.parametrize("codebook_size, n_q", [(8, 3), (16, 2)])
def test_lm_stages_refuse_codes_that_do_not_fit_the_vocabulary(
    tmp_path, lm_exp, test_set, codebook_size, n_q
):
    """Codes of an 8-code codec for an LM of 16 codes per stream pass the per-code range check
    (every code < 16) and were used silently; 2 codebooks for 3 streams. ``codes.yaml`` says
    so before any array is read."""
    data, _ = test_set
    codec = make_tiny_codec(tmp_path / "codec", codebook_size=codebook_size)
    out = tmp_path / "dump"
    assert _tok(codec, data, out, "--n_q", str(n_q)).rc == 0
    res = call_main("lm_decode", "--data_dir", data, "--codes", out / "codes.scp", "--lm", lm_exp,
                    "--out_dir", tmp_path / "decode", "task=asr", "decoding.text.max_len_cap=4")  # fmt: skip
    assert_one_line_error(
        res, str(out / "codes.yaml"), f"{n_q} codebooks x {codebook_size} codes",
        "3 streams x 16 codes",
    )  # fmt: skip
    assert not (tmp_path / "decode" / "meta.yaml").exists()
