"""Metrics over one stated set of utterances: an empty reference is left out of every metric
(counted, named on the console and in ``scores.yaml`` / RESULTS.md); a hypothesis file without
any output is an error; missing and empty outputs are named on the console; ``codec_eval``
leaves an utterance whose PESQ cannot be computed out of *every* mean (STOI included)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import yaml
from rel_helpers import (
    assert_one_line_error,
    assert_unchanged,
    call_main,
    make_tiny_codec,
    tree_hashes,
)

from espnet_codec_lm.testing.audio import make_data_dir, write_wav

REFS = {"u1": "the red cat runs", "u2": "", "u3": "one big dog", "u4": "two small cats"}


def _decode_dir(tmp_path, hyps: dict[str, str] | None, refs=REFS):
    """A data dir with ``refs`` and an ASR decode dir (``exp/decode_asr_test``) with ``hyps``."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "text").write_text("".join(f"{u} {t}\n" for u, t in sorted(refs.items())))
    exp = tmp_path / "exp"
    d = exp / "decode_asr_test"
    d.mkdir(parents=True)
    (exp / "system.yaml").write_text("system: Speech CPT\n")
    meta = {"task": "asr", "test_set": "test", "src_lang": "en", "data_dir": str(data)}
    (d / "meta.yaml").write_text(yaml.safe_dump(meta))
    text = "" if hyps is None else "".join(f"{u} {t}\n" for u, t in sorted(hyps.items()))
    (d / "text").write_text(text)
    return data, d


def test_empty_reference_is_left_out_and_reported(tmp_path):
    hyps = {"u1": "the red cat runs", "u2": "anything at all", "u3": "one big dog", "u4": ""}
    data, d = _decode_dir(tmp_path, hyps)
    res = call_main("score", "--decode_dir", d)
    assert res.rc == 0, res.text
    warn = [ln for ln in res.text.splitlines() if "empty reference" in ln]
    assert len(warn) == 1 and str(data / "text") in warn[0] and "u2" in warn[0], res.text
    assert any("empty hypothesis" in ln and "u4" in ln for ln in res.text.splitlines()), res.text
    s = yaml.safe_load((d / "scores.yaml").read_text())
    assert s["num_utts"] == 4 and s["num_scored"] == 3
    assert s["num_empty_refs"] == 1 and s["empty_refs"] == ["u2"] and s["num_empty_hyps"] == 1
    # WER over u1, u3, u4 only: 3 deletions of 10 reference words (u2's 3 insertions not counted)
    assert s["wer"] == pytest.approx(30.0)
    detail = (d / "scores_detail.tsv").read_text().splitlines()
    assert not [ln for ln in detail if ln.startswith("u2\t")]
    res = call_main("report", "--exp_root", tmp_path / "exp", "--output", tmp_path / "RESULTS.md")
    assert res.rc == 0, res.text
    assert (
        "Empty references (not scored by any metric): Speech CPT test: 1"
        in (tmp_path / "RESULTS.md").read_text()
    )


def test_empty_hypothesis_file_is_an_error(tmp_path):
    data, d = _decode_dir(tmp_path, None)
    before = tree_hashes(tmp_path)
    res = call_main("score", "--decode_dir", d)
    assert_one_line_error(res, str(d / "text"), "no output for any of the 4 utterances")
    assert_unchanged(before, tree_hashes(tmp_path))
    assert not (d / "scores.yaml").exists()


def test_missing_outputs_are_named_on_the_console(tmp_path):
    data, d = _decode_dir(tmp_path, {"u1": "the red cat runs"})
    res = call_main("score", "--decode_dir", d)
    assert res.rc == 0, res.text
    line = [ln for ln in res.text.splitlines() if "have no output" in ln]
    assert len(line) == 1 and "2 of 3" in line[0] and "u3 u4" in line[0], res.text
    s = yaml.safe_load((d / "scores.yaml").read_text())
    assert s["num_missing"] == 2 and s["num_scored"] == 3
    res = call_main("score", "--decode_dir", d, "--force", "ignore_missing=true")
    assert res.rc == 0, res.text
    assert yaml.safe_load((d / "scores.yaml").read_text())["num_scored"] == 1


def test_all_references_empty_is_an_error(tmp_path):
    data, d = _decode_dir(tmp_path, {"a": "x"}, refs={"a": "", "b": ""})
    res = call_main("score", "--decode_dir", d)
    assert_one_line_error(res, str(data / "text"), "every reference is empty")


def test_codec_eval_means_are_over_one_set(tmp_path):
    pytest.importorskip("pesq")
    codec = make_tiny_codec(tmp_path / "codec")
    data = make_data_dir(tmp_path / "data", n_utts=3, seconds=1.0)
    silent = "spk1-utt001"  # PESQ finds no speech in silence; STOI still returns a value
    write_wav(data / "wav" / f"{silent}.wav", np.zeros(16000, np.float32))
    out = tmp_path / "eval"
    res = call_main("codec_eval", "--codec_dir", codec, "--data", data, "--out_dir", out,
                    "--n_q", "1", "3", "--num_plots", "0")  # fmt: skip
    assert res.rc == 0, res.text
    warn = [ln for ln in res.text.splitlines() if "left out of every mean" in ln]
    assert any(silent in ln and "pesq" in ln for ln in warn), res.text
    s = yaml.safe_load((out / "results.yaml").read_text())
    assert s["num_utts"] == 3 and s["num_scored"] == 2 and list(s["dropped"]) == [silent]
    rows = [ln.split("\t") for ln in (out / "per_utt.tsv").read_text().splitlines()[1:]]
    assert any(r[0] == silent and math.isfinite(float(r[6])) for r in rows)  # STOI computed
    for n in (1, 3):
        kept = [r for r in rows if r[0] != silent and int(r[1]) == n]
        for col, m in ((6, "stoi"), (4, "pesq_wb"), (3, "si_snr")):
            want = np.mean([float(r[col]) for r in kept])
            assert s["n_q"][n][m] == pytest.approx(want, abs=1e-3), (n, m)
    assert "2 scored; left out of every mean: spk1-utt001" in (out / "results.md").read_text()
