"""Validation: each bad-input case of the issue gives one line naming the file and utterance;
the CLI exits non-zero; ``--skip_bad true`` writes a clean copy and reports what it dropped."""

from __future__ import annotations

import subprocess
import sys

import pytest

from espnet_codec_lm.bin import validate_data_dir as cli
from espnet_codec_lm.data.data_dir import read_data_dir
from espnet_codec_lm.data.validate import validate_data_dir
from espnet_codec_lm.testing.audio import (
    make_data_dir,
    write_corrupt_wav,
    write_empty_wav,
    write_nan_wav,
    write_truncated_wav,
)

N = 12


def _append(path, line: bytes) -> None:
    with open(path, "ab") as f:
        f.write(line)


def _replace_line(path, utt: str, new: bytes) -> None:
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(new if ln.split()[0].decode() == utt else ln for ln in lines))


@pytest.fixture
def broken(tmp_path):
    """A data dir where utterances 0..8 each carry one defect; the others are fine."""
    d = make_data_dir(tmp_path / "data", n_utts=N, n_speakers=3, seconds=0.3)
    u = read_data_dir(d).utt_ids  # sorted ids
    ids = {f"spk{i % 3}-utt{i:03d}": i for i in range(N)}
    by_i = {i: k for k, i in ids.items()}
    wav = d / "wav"
    (wav / f"{by_i[0]}.wav").unlink()  # missing audio
    write_corrupt_wav(wav / f"{by_i[1]}.wav")  # unreadable
    write_truncated_wav(wav / f"{by_i[2]}.wav")  # truncated
    write_empty_wav(wav / f"{by_i[3]}.wav")  # zero length
    write_nan_wav(wav / f"{by_i[4]}.wav")  # NaN
    _replace_line(d / "text", by_i[5], f"{by_i[5]}\n".encode())  # empty transcript
    _replace_line(d / "text", by_i[6], f"{by_i[6]} caf\xe9 latin-1\n".encode("latin-1"))
    _append(d / "utt2spk", f"{by_i[7]} spk1\n".encode())  # duplicate id
    _append(d / "text", b"zz-orphan only in text\n")  # id in text, not in wav.scp
    expected = {
        by_i[0]: ("wav.scp", "missing audio"),
        by_i[1]: ("wav.scp", "unreadable audio"),
        by_i[2]: ("wav.scp", "truncated WAV"),
        by_i[3]: ("wav.scp", "zero-length audio"),
        by_i[4]: ("wav.scp", "NaN"),
        by_i[5]: ("text", "empty transcript"),
        by_i[6]: ("text", "not valid UTF-8"),
        by_i[7]: ("utt2spk", "duplicate id"),
        "zz-orphan": ("text", "in text but not in wav.scp"),
    }
    assert len(u) == N
    return d, expected


def test_every_bad_case_is_reported(broken):
    d, expected = broken
    _, problems = validate_data_dir(d, nj=2)
    lines = [str(p) for p in problems]
    assert all("\n" not in ln for ln in lines)
    for utt, (fname, what) in expected.items():
        hits = [ln for ln in lines if f"'{utt}'" in ln and what in ln]
        assert hits, f"{utt}: no '{what}' in {lines}"
        assert all(f"{d}/{fname}" in h for h in hits), hits
    # the broken text line leaves that utterance without a transcript, nothing else is flagged
    flagged = {p.utt for p in problems}
    assert flagged <= set(expected)


def test_cli_exit_codes_and_one_line_per_problem(broken, capsys, tmp_path):
    d, expected = broken
    assert cli.main([str(d)]) == 1
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) >= len(expected)
    assert all("utterance '" in ln or "spk2utt" in ln for ln in out)
    clean = make_data_dir(tmp_path / "ok", n_utts=3)
    assert cli.main([str(clean)]) == 0
    assert cli.main([str(tmp_path / "nothing_here")]) == 1


def test_skip_bad_writes_clean_copy_and_reports(broken, tmp_path, capsys):
    d, expected = broken
    before = {p.name: p.read_bytes() for p in d.iterdir() if p.is_file()}
    out = tmp_path / "clean"
    assert cli.main([str(d), "--out", str(out)]) == 1  # without skip_bad nothing is written
    assert not out.exists()
    assert cli.main([str(d), "--out", str(out), "--skip_bad", "true"]) == 0
    dropped = set((out / "skipped_utts").read_text().split("\n")) - {""}
    dropped = {ln.split()[0] for ln in dropped}
    assert dropped == set(expected) - {"zz-orphan"}
    assert len(read_data_dir(out)) == N - len(dropped)
    assert validate_data_dir(out)[1] == []
    err = capsys.readouterr()
    assert f"skipped {len(dropped)} bad utterance" in err.err
    assert before == {p.name: p.read_bytes() for p in d.iterdir() if p.is_file()}


def test_cross_file_checks(tmp_path):
    d = make_data_dir(tmp_path / "d", n_utts=4, n_speakers=2)
    (d / "spk2utt").write_text("spk0 spk0-utt000\nspk1 spk1-utt001 spk1-utt003\n")
    _append(d / "text.zh", "ghost 鬼。\n".encode())
    (d / "utt2lang").write_text("spk1-utt001 en\nspk0-utt000 en\n")  # unsorted, incomplete
    _, problems = validate_data_dir(d, check_audio=False)
    msgs = [str(p) for p in problems]
    assert any("spk2utt" in m and "spk0" in m for m in msgs)
    assert any("text.zh" in m and "'ghost'" in m and "not in utt2spk" in m for m in msgs)
    assert any("utt2lang" in m and "not sorted" in m for m in msgs)
    assert any("utt2lang" in m and "'spk0-utt002'" in m and "no language" in m for m in msgs)


def test_filters_through_cli(tmp_path):
    d = make_data_dir(tmp_path / "d", n_utts=4, seconds=[0.2, 1.0, 1.0, 3.0])
    out = tmp_path / "f"
    rc = cli.main([str(d), "--out", str(out), "--min_duration", "0.5", "max_duration=2"])
    assert rc == 0
    assert read_data_dir(out).utt_ids == ["spk0-utt002", "spk1-utt001"]
    lines = (out / "filtered_utts").read_text().splitlines()
    assert {ln.split()[0] for ln in lines} == {"spk0-utt000", "spk1-utt003"}


def test_help_is_fast_and_works():
    r = subprocess.run(
        [sys.executable, "-m", "espnet_codec_lm.bin.validate_data_dir", "--help"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert r.returncode == 0 and "Usage:" in r.stdout


def test_segments_and_pipes_are_checked(tmp_path):
    from espnet_codec_lm.data.data_dir import DataDir, Segment, write_data_dir
    from espnet_codec_lm.testing.audio import sine, write_wav

    rec = write_wav(tmp_path / "rec.wav", sine(300, 2.0))
    dd = DataDir(
        wav_scp={"r1": str(rec), "r2": f"cat {rec} |", "r3": "false |"},
        utt2spk={"s-a": "s", "s-b": "s", "s-c": "s", "s-d": "s"},
        text={"s-a": "a.", "s-b": "b.", "s-c": "c.", "s-d": "d."},
        segments={
            "s-a": Segment("r1", 0.0, 1.0),
            "s-b": Segment("r2", 1.0, -1),
            "s-c": Segment("r1", 1.5, 4.0),  # past the end of the 2 s recording
            "s-d": Segment("r3", 0.0, 1.0),
        },
    )
    d = write_data_dir(dd, tmp_path / "d")
    _, problems = validate_data_dir(d)
    by_utt = {p.utt: str(p) for p in problems}
    assert set(by_utt) == {"s-c", "s-d"}
    assert "outside the recording" in by_utt["s-c"] and "exited with status 1" in by_utt["s-d"]
