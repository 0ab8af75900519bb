"""Tasks stage (codes + transcripts -> task sequences): broken codes archives, utterances with
no codes, over-long examples. Checked through ``show_example`` (the stage's own entry point,
no model needed) on a synthetic corpus in the real on-disk layout; the trainer builds its data
through the same ``load_corpora`` / ``TaskDataset`` code."""

from __future__ import annotations

import kaldiio
import numpy as np
import pytest
import yaml
from rel_helpers import assert_one_line_error, assert_unchanged, call_main, tree_hashes

from espnet_codec_lm.config import dump_config


@pytest.fixture(scope="module")
def syn(tmp_path_factory):
    from espnet_codec_lm.testing.synthetic import make_synthetic_corpus

    root = tmp_path_factory.mktemp("rel_tasks")
    return make_synthetic_corpus(
        root, speakers_per_lang=2, utts_per_speaker=4, n_text=10, n_mt=10, codebook_size=16
    )


def _codes(syn) -> dict[str, np.ndarray]:
    scp = kaldiio.load_scp(str(syn.root / "codes/train/codes.scp"))
    return {k: np.asarray(v) for k, v in scp.items()}


def _write_codes(out, codes: dict[str, np.ndarray]):
    out.mkdir(parents=True)
    spec = f"ark,scp:{out}/codes.ark,{out}/codes.scp"
    with kaldiio.WriteHelper(spec, write_function="numpy") as w:
        for k in sorted(codes):
            w(k, codes[k])
    return out / "codes.scp"


def _stats(syn, tmp_path, codes_scp, *overrides):
    """``show_example --stats`` over the corpus with ``codes_scp`` as its codes."""
    cfg = syn.data_config()
    cfg.speech_sets[0].codes = str(codes_scp)
    cfg.speech_sets[0].codes_tgt = None
    dump_config(cfg, tmp_path / "data.yaml")
    return call_main(
        "show_example",
        "--config",
        tmp_path / "data.yaml",
        "--tokenizer",
        syn.root / "tokenizer",
        "--vocab_layout",
        syn.root / "vocab_layout.json",
        "--stats",
        *overrides,
    )


def _broken(tmp_path, syn, edit):
    codes = _codes(syn)
    utt = sorted(codes)[1]
    edit(codes, utt)
    return _write_codes(tmp_path / "codes", codes), utt


def test_out_of_range_codes(tmp_path, syn):
    def edit(c, u):
        c[u] = c[u].copy()
        c[u][2, 0] = 16  # codebook_size is 16

    scp, utt = _broken(tmp_path, syn, edit)
    before = tree_hashes(tmp_path, syn.root)
    res = _stats(syn, tmp_path, scp)
    assert_one_line_error(res, str(scp), utt, "outside [0, 16)")
    assert_unchanged(before, tree_hashes(tmp_path, syn.root))


def test_codes_of_wrong_shape(tmp_path, syn):
    def edit(c, u):
        c[u] = c[u][:, 0].copy()  # one stream, 1-D

    scp, utt = _broken(tmp_path, syn, edit)
    res = _stats(syn, tmp_path, scp)
    assert_one_line_error(res, str(scp), utt, "codes must be")


def test_truncated_codes_archive(tmp_path, syn):
    """An ark cut in half (a copy that ran out of disk): one line naming the scp and the first
    utterance that cannot be read, not a bare kaldiio EOF message."""
    scp = _write_codes(tmp_path / "codes", _codes(syn))
    ark = scp.parent / "codes.ark"
    ark.write_bytes(ark.read_bytes()[: ark.stat().st_size // 2])
    res = _stats(syn, tmp_path, scp)
    line = assert_one_line_error(res, str(scp), "utterance")
    bad = line.split("utterance ", 1)[1].split(":")[0].strip("' ")
    assert bad in _codes(syn), line


def test_codes_archive_missing(tmp_path, syn):
    scp = _write_codes(tmp_path / "codes", _codes(syn))
    (scp.parent / "codes.ark").unlink()
    res = _stats(syn, tmp_path, scp)
    assert_one_line_error(res, str(scp.parent / "codes.ark"))


def test_utterance_without_codes_is_a_counted_skip(tmp_path, syn):
    codes = _codes(syn)
    utt = sorted(codes)[2]
    del codes[utt]
    res = _stats(syn, tmp_path, _write_codes(tmp_path / "codes", codes), "batch_size=1")
    assert res.rc == 0, res.text
    warn = [ln for ln in res.err.splitlines() if "no codes" in ln]
    assert len(warn) == 1 and "1 utterances" in warn[0] and utt in warn[0], res.err


def test_over_long_examples_are_split_or_dropped_and_counted(tmp_path, syn):
    """Policy (tasks/sequence.py): an over-long continuation / text-LM example is split, any
    other task's example is dropped; both are counted in the epoch statistics."""
    plain = _stats(
        syn, tmp_path / "a", syn.root / "codes/train/codes.scp", "max_len=512", "batch_size=1"
    )
    assert plain.rc == 0, plain.text
    codes = _codes(syn)
    for u in sorted(codes)[::2]:  # half the utterances become ~10x longer than a row
        codes[u] = np.tile(codes[u], (30, 1))
    long = _stats(
        syn, tmp_path / "b", _write_codes(tmp_path / "codes", codes), "max_len=512", "batch_size=1"
    )
    assert long.rc == 0, long.text
    a, b = yaml.safe_load(plain.out)["tasks"], yaml.safe_load(long.out)["tasks"]
    assert sum(t["dropped"] for t in b.values()) > sum(t["dropped"] for t in a.values())
    assert b["continuation"]["split"] > a["continuation"]["split"]
    for t in b.values():  # every draw is accounted for
        assert t["drawn"] >= t["dropped"] and t["examples"] >= t["drawn"] - t["dropped"]
