"""DataDir: read/write round trips (with segments, translations, target speech), subset,
select, combine, filter; writing never touches the input."""

from __future__ import annotations

import numpy as np
import pytest

from espnet_codec_lm.data.data_dir import (
    DataDir,
    Segment,
    combine_data_dirs,
    read_data_dir,
    write_data_dir,
)
from espnet_codec_lm.data.kaldi_io import DataDirError, read_table
from espnet_codec_lm.testing.audio import make_data_dir, sine, write_wav


def test_round_trip_every_file(tmp_path):
    src = make_data_dir(tmp_path / "a", n_utts=5, n_speakers=2, seconds=[1.0, 0.5, 2.0, 1.5, 0.8])
    dd = read_data_dir(src)
    dd.wav_tgt = {u: dd.wav_scp[u] for u in dd.utt_ids[:2]}
    dd.extra["utt2gender"] = dict.fromkeys(dd.utt_ids, "f")
    dd = dd.with_durations()
    out = write_data_dir(dd, tmp_path / "b")
    back = read_data_dir(out)
    for name in ("wav_scp", "utt2spk", "text", "utt2lang", "translations", "wav_tgt", "extra"):
        assert getattr(back, name) == getattr(dd, name), name
    durs = [1.0, 0.5, 2.0, 1.5, 0.8]
    assert back.utt2dur == pytest.approx({f"spk{i % 2}-utt{i:03d}": d for i, d in enumerate(durs)})
    spk2utt = read_table(out / "spk2utt")
    assert spk2utt == {
        "spk0": "spk0-utt000 spk0-utt002 spk0-utt004",
        "spk1": "spk1-utt001 spk1-utt003",
    }
    assert len(back.load_audio("spk1-utt001")) == 8000


def test_segments_round_trip_and_audio(tmp_path):
    rec = write_wav(tmp_path / "rec.wav", np.concatenate([sine(200, 1.0), sine(900, 1.0)]))
    dd = DataDir(
        wav_scp={"rec1": str(rec)},
        utt2spk={"s-a": "s", "s-b": "s"},
        text={"s-a": "low.", "s-b": "high."},
        segments={"s-a": Segment("rec1", 0.0, 1.0), "s-b": Segment("rec1", 1.0, -1)},
    )
    back = read_data_dir(write_data_dir(dd, tmp_path / "d"))
    assert back.segments == dd.segments
    assert back.durations() == pytest.approx({"s-a": 1.0, "s-b": 1.0})
    assert len(back.load_audio("s-b")) == 16000
    sub = back.subset(["s-a"])
    assert sub.wav_scp == {"rec1": str(rec)} and list(sub.segments) == ["s-a"]


def test_malformed_files_fail_on_read(tmp_path):
    d = make_data_dir(tmp_path / "a", n_utts=2)
    (d / "segments").write_text("spk0-utt000 rec 1.0 0.5\n")
    with pytest.raises(DataDirError, match="segments: utterance 'spk0-utt000': bad segment"):
        read_data_dir(d)
    (d / "segments").unlink()
    (d / "utt2spk").unlink()
    with pytest.raises(DataDirError, match="utt2spk: missing"):
        read_data_dir(d)


def test_subset_select_and_without(tmp_path):
    dd = read_data_dir(make_data_dir(tmp_path / "a", n_utts=6, n_speakers=3))
    sub = dd.select(speakers=["spk1"])
    assert sub.utt_ids == ["spk1-utt001", "spk1-utt004"]
    assert set(sub.translations["zh"]) == set(sub.utt_ids)
    assert dd.select(first=2).utt_ids == dd.utt_ids[:2]
    assert dd.select(lang="zh").utt_ids == []
    assert len(dd.without(["spk0-utt000"])) == 5
    with pytest.raises(DataDirError, match="unknown utterance 'nope'"):
        dd.subset(["nope"])
    assert len(dd) == 6  # the original is untouched


def test_combine(tmp_path):
    a = read_data_dir(make_data_dir(tmp_path / "a", n_utts=2, lang="en"))
    b = read_data_dir(make_data_dir(tmp_path / "b", n_utts=3, lang="zh"))
    b = b.subset(b.utt_ids)
    # rename b's ids so they do not clash
    ren = {u: "zh" + u for u in b.utt_ids}
    b = DataDir(
        wav_scp={ren[u]: v for u, v in b.wav_scp.items()},
        utt2spk={ren[u]: "zh" + v for u, v in b.utt2spk.items()},
        text={ren[u]: v for u, v in b.text.items()},
        utt2lang={ren[u]: v for u, v in b.utt2lang.items()},
        translations={"en": {ren[u]: v for u, v in b.translations["en"].items()}},
    )
    c = combine_data_dirs([a, b])
    assert len(c) == 5
    assert set(c.translations) == {"en", "zh"}
    assert c.select(lang="zh").utt_ids == sorted(ren.values())
    with pytest.raises(DataDirError, match="duplicate id 'spk0-utt000'"):
        combine_data_dirs([a, a])


def test_filter_by_duration_and_text_length(tmp_path):
    dd = read_data_dir(make_data_dir(tmp_path / "a", n_utts=4, seconds=[0.3, 1.0, 2.0, 5.0]))
    kept, removed = dd.filter(min_duration=0.5, max_duration=3.0)
    assert kept.utt_ids == ["spk0-utt002", "spk1-utt001"]
    assert set(removed) == {"spk0-utt000", "spk1-utt003"}
    assert "< 0.5" in removed["spk0-utt000"] and "> 3.0" in removed["spk1-utt003"]
    longest = max(len(t.split()) for t in dd.text.values())
    kept, removed = dd.filter(max_text_length=longest - 1, text_length=lambda t: len(t.split()))
    n_longest = sum(len(t.split()) == longest for t in dd.text.values())
    assert len(removed) == n_longest and all("text length" in r for r in removed.values())
    assert all(len(kept.text[u].split()) < longest for u in kept.utt_ids)


def test_write_never_overwrites_input_or_existing(tmp_path):
    src = make_data_dir(tmp_path / "a", n_utts=2)
    before = {p.name: p.read_bytes() for p in src.iterdir() if p.is_file()}
    dd = read_data_dir(src)
    with pytest.raises(DataDirError, match="in place"):
        write_data_dir(dd, src, overwrite=True)
    out = write_data_dir(dd.subset(dd.utt_ids[:1]), tmp_path / "b")
    with pytest.raises(DataDirError, match="not empty"):
        write_data_dir(dd.subset(dd.utt_ids[:1]), out)
    after = {p.name: p.read_bytes() for p in src.iterdir() if p.is_file()}
    assert before == after
