"""Data stage: every kind of broken corpus file, through ``validate_data_dir`` and
``prepare_data``. Each defect gives one line naming the file (and line) and the utterance, a
non-zero exit, and leaves the input and earlier outputs byte-identical; where the policy allows
it (``--skip_bad``, length filters) the utterance is skipped and counted instead."""

from __future__ import annotations

import numpy as np
import pytest
from rel_helpers import (
    assert_one_line_error,
    assert_unchanged,
    call_main,
    replace_line,
    run_cli,
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

UTT = "spk1-utt001"  # the utterance each case breaks


@pytest.fixture
def data(tmp_path):
    """A valid 4-utterance data dir, plus a cleaned copy written by an earlier run."""
    d = make_data_dir(tmp_path / "data", n_utts=4, seconds=0.4)
    res = call_main("validate_data_dir", d, "--out", tmp_path / "clean_v1")
    assert res.rc == 0, res.text
    return d


def _append(path, line: bytes) -> None:
    with open(path, "ab") as f:
        f.write(line)


def _break(d, kind: str) -> tuple[str, str]:
    """Apply one defect; returns (file the message must name, what it must say)."""
    wav = d / "wav" / f"{UTT}.wav"
    if kind == "missing_audio":
        wav.unlink()
        return "wav.scp", "missing audio"
    if kind == "corrupt_audio":
        write_corrupt_wav(wav)
        return "wav.scp", "unreadable audio"
    if kind == "truncated_audio":
        write_truncated_wav(wav)
        return "wav.scp", "truncated WAV"
    if kind == "empty_audio":
        write_empty_wav(wav)
        return "wav.scp", "zero-length audio"
    if kind == "nan_audio":
        write_nan_wav(wav)
        return "wav.scp", "NaN"
    if kind == "empty_transcript":
        replace_line(d / "text", UTT, f"{UTT}\n".encode())
        return "text", "empty transcript"
    if kind == "non_utf8_transcript":
        replace_line(d / "text", UTT, f"{UTT} caf\xe9 au lait\n".encode("latin-1"))
        return "text", "not valid UTF-8"
    if kind == "duplicate_id":
        _append(d / "utt2spk", f"{UTT} spk0\n".encode())
        return "utt2spk", "duplicate id"
    if kind == "id_only_in_wav_scp":
        replace_line(d / "utt2spk", UTT, b"")
        replace_line(d / "spk2utt", "spk1", b"spk1 spk1-utt003\n")
        return "wav.scp", "not in utt2spk"
    if kind == "failing_pipe":
        replace_line(d / "wav.scp", UTT, f"{UTT} sox /no/such/file.flac -t wav - |\n".encode())
        return "wav.scp", "command"
    raise AssertionError(kind)


CASES = [
    "missing_audio",
    "corrupt_audio",
    "truncated_audio",
    "empty_audio",
    "nan_audio",
    "empty_transcript",
    "non_utf8_transcript",
    "duplicate_id",
    "id_only_in_wav_scp",
    "failing_pipe",
]


@pytest.mark.parametrize("kind", CASES)
def test_bad_data_dir_is_one_line_and_nothing_written(tmp_path, data, kind):
    fname, what = _break(data, kind)
    before = tree_hashes(tmp_path)
    res = call_main("validate_data_dir", data, "--out", tmp_path / "clean_v2")
    line = assert_one_line_error(res, f"{data}/{fname}", UTT, what)
    assert "\n" not in line
    if fname in ("text", "utt2spk"):  # table defects are located to the line
        assert f"{data}/{fname}:" in line and line.split(f"{fname}:", 1)[1][0].isdigit(), line
    assert_unchanged(before, tree_hashes(tmp_path))
    assert not (tmp_path / "clean_v2").exists()


def test_skip_bad_drops_and_counts(tmp_path, data):
    _break(data, "truncated_audio")
    res = call_main("validate_data_dir", data, "--out", tmp_path / "clean_v2", "--skip_bad", "true")
    assert res.rc == 0, res.text
    assert "1 skipped as bad" in res.text
    skipped = (tmp_path / "clean_v2" / "skipped_utts").read_text(encoding="utf-8").split("\n")
    assert skipped[0].startswith(f"{UTT} ") and "truncated WAV" in skipped[0]
    kept = (tmp_path / "clean_v2" / "wav.scp").read_text(encoding="utf-8")
    assert UTT not in kept and len(kept.splitlines()) == 3


def test_over_long_transcript_is_filtered_and_counted(tmp_path, data):
    replace_line(data / "text", UTT, f"{UTT} {'very ' * 400}long.\n".encode())
    res = call_main(
        "validate_data_dir", data, "--out", tmp_path / "short", "--max_text_length", "200"
    )
    assert res.rc == 0, res.text
    assert "1 filtered" in res.text
    filtered = (tmp_path / "short" / "filtered_utts").read_text(encoding="utf-8")
    assert filtered.split()[0] == UTT
    assert UTT not in (tmp_path / "short" / "text").read_text(encoding="utf-8")


def test_stereo_and_other_rates_are_converted_not_rejected(tmp_path):
    """Documented policy of the data layer: channels are averaged and any rate is resampled
    to 16 kHz (soxr HQ), so a stereo 44.1 kHz file validates and loads as 16 kHz mono."""
    from espnet_codec_lm.data.data_dir import read_data_dir

    d = make_data_dir(tmp_path / "data", n_utts=2, seconds=0.5)
    left = speech_like(0.5, 44100, np.random.default_rng(1))
    write_wav(d / "wav" / f"{UTT}.wav", np.stack([left, 0.5 * left], axis=1), 44100)
    res = call_main("validate_data_dir", d)
    assert res.rc == 0, res.text
    wav = read_data_dir(d).load_audio(UTT)
    assert wav.ndim == 1 and abs(len(wav) - 8000) <= 1


def test_output_dir_not_empty_is_refused(tmp_path, data):
    before = tree_hashes(tmp_path)
    res = call_main("validate_data_dir", data, "--out", tmp_path / "clean_v1")
    assert_one_line_error(res, str(tmp_path / "clean_v1"), "not empty")
    assert_unchanged(before, tree_hashes(tmp_path))


def test_prepare_data_bad_corpus_transcript(tmp_path):
    """A real-corpus preparer (LibriSpeech layout) on a transcript line without text: one line
    naming the trans.txt file, its line and the utterance; a prepared subset stays as it was."""
    from espnet_codec_lm.testing.fake_corpora import SpeechMaker, make_fake_librispeech

    maker = SpeechMaker(0, use_espeak=False)  # the layout is under test, not the voice
    src = make_fake_librispeech(
        tmp_path / "db", subsets=("dev-clean",), readers=1, utts=2, maker=maker
    )
    out, out2 = tmp_path / "data", tmp_path / "data2"
    ok = run_cli("prepare_data", "--corpus", "librispeech", "--src", src, "--out", out)
    assert ok.rc == 0, ok.text
    trans = next(src.rglob("*.trans.txt"))
    utt = trans.read_text(encoding="utf-8").splitlines()[1].split()[0]
    with open(trans, "a", encoding="utf-8") as f:
        f.write(f"{utt}\n")
    before = tree_hashes(tmp_path)
    res = run_cli("prepare_data", "--corpus", "librispeech", "--src", src, "--out", out2)
    assert_one_line_error(res, f"{trans}:3", utt, "empty transcript")
    assert_unchanged(before, tree_hashes(tmp_path))
    assert not (out2 / "dev_clean" / "text").exists()
