"""Every real-corpus preparer on a fake tree of its published layout: the data dirs it writes are
valid (audio decodes), hold what the corpus files say, and a rerun skips; bad input is one line."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from espnet_codec_lm.data.corpora import prepare
from espnet_codec_lm.data.data_dir import read_data_dir
from espnet_codec_lm.data.kaldi_io import DataDirError, read_table
from espnet_codec_lm.data.validate import validate_data_dir


def _lines(path: Path) -> list[str]:
    return [ln for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]


# ------------------------------------------------------------------ per-corpus content checks
def check_librispeech(root: Path, out: Path) -> None:
    trans = next((root / "LibriSpeech" / "test-clean").glob("*/*/*.trans.txt"))
    utt, words = _lines(trans)[0].split(maxsplit=1)
    dd = read_data_dir(out / "test_clean")
    assert dd.text[utt] == words.lower()
    assert dd.utt2spk[utt] == utt.split("-")[0]  # the reader, not reader-chapter
    assert dd.wav_scp[utt].endswith(f"{utt}.flac")
    assert set(dd.utt2lang.values()) == {"en"}


def check_aishell2(root: Path, out: Path) -> None:
    d = root / "AISHELL-DEV-TEST-SET" / "iOS" / "test"
    utt, text = _lines(d / "trans.txt")[0].split("\t")
    dd = read_data_dir(out / "test")
    assert dd.text[utt] == text
    assert dd.utt2spk[utt] == utt[1:6]  # IT0001W0001 -> T0001 (the wav's directory)
    assert set(dd.utt2lang.values()) == {"zh"}
    assert len(read_data_dir(out / "train")) == len(_lines(root / "AISHELL-2/iOS/data/wav.scp"))


def check_libritts(root: Path, out: Path) -> None:
    import soundfile as sf

    from espnet_codec_lm.data.audio import load_audio

    wav = sorted((root / "LibriTTS" / "test-clean").glob("*/*/*.wav"))[0]
    dd = read_data_dir(out / "test_clean")
    assert dd.text[wav.stem] == wav.with_name(f"{wav.stem}.normalized.txt").read_text()
    assert sf.info(dd.wav_scp[wav.stem]).samplerate == 24000
    n16 = len(load_audio(dd.wav_scp[wav.stem], 16000))
    assert abs(n16 - sf.info(str(wav)).frames * 2 / 3) <= 2  # resampled on load
    assert len(read_data_dir(out / "train_960")) == sum(
        len(read_data_dir(out / s))
        for s in ("train_clean_100", "train_clean_360", "train_other_500")
    )


def check_covost2(root: Path, out: Path) -> None:
    import csv

    with (root / "covost_v2.en_zh-CN.tsv").open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    test = [r for r in rows if r["split"] == "test"]
    dd = read_data_dir(out / "test_en_zh")
    assert len(dd) == len(test)
    utt = Path(test[0]["path"]).stem
    assert dd.translations["zh"][utt] == test[0]["translation"]
    assert dd.utt2lang[utt] == "en"
    # train = train + train_covost rows, both directions in the combined set
    n_train = sum(r["split"] in ("train", "train_covost") for r in rows)
    assert len(read_data_dir(out / "train_en_zh")) == n_train
    both = read_data_dir(out / "train")
    assert set(both.utt2lang.values()) == {"en", "zh"}
    assert set(both.translations) == {"en", "zh"}


def check_commonvoice(root: Path, out: Path) -> None:
    import csv

    with (root / "zh-CN" / "dev.tsv").open(encoding="utf-8") as f:
        row = next(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    dd = read_data_dir(out / "dev_zh")
    utt = Path(row["path"]).stem
    assert dd.utt2spk[utt] == row["client_id"]
    assert dd.text[utt] == row["sentence"]


def check_gigaspeech(root: Path, out: Path) -> None:
    dd = read_data_dir(out / "test")
    assert dd.segments is not None and all("<" not in t for t in dd.text.values())
    meta = json.loads((root / "GigaSpeech" / "GigaSpeech.json").read_text())
    test_segs = [
        s
        for a in meta["audios"]
        for s in a["segments"]
        if "{TEST}" in s["subsets"] and s["text_tn"] != "<MUSIC>"
    ]
    assert sorted(dd.utt_ids) == sorted(s["sid"] for s in test_segs)
    seg = test_segs[0]
    assert dd.segments[seg["sid"]].start == seg["begin_time"]
    assert dd.text[seg["sid"]].lower().rstrip("?.!") == seg["text_tn"].split(" <")[0].lower()


def check_gigas2s(root: Path, out: Path) -> None:
    st = json.loads((root / "GigaST" / "GigaST.zh.json").read_text())
    zh = {s["sid"]: s["text_raw"] for a in st["audios"] for s in a["segments"]}
    train, test = read_data_dir(out / "train"), read_data_dir(out / "test")
    assert train.wav_tgt and set(train.wav_tgt) == set(train.utt_ids)  # S2ST targets
    assert not test.wav_tgt  # evaluated by ASR-BLEU against text
    for dd in (train, test):
        assert all(dd.translations["zh"][u] == zh[u] for u in dd.utt_ids)
    tsv = _lines(root / "GigaS2S" / "EN2ZH" / "train.tsv")
    assert len(tsv) - 1 == len(train)


def check_aishell1(root: Path, out: Path) -> None:
    dd = read_data_dir(out / "train")
    assert "BAC009S0100W9999" not in dd.utt2spk  # the WAV without a transcript is dropped
    trans = dict(
        ln.split(maxsplit=1)
        for ln in _lines(root / "data_aishell/transcript/aishell_transcript_v0.8.txt")
    )
    utt = dd.utt_ids[0]
    assert dd.text[utt] == trans[utt].replace(" ", "")
    assert dd.utt2spk[utt] == utt[6:11]


def check_aishell3(root: Path, out: Path) -> None:
    dd = read_data_dir(out / "test")
    assert all(not any(c.isdigit() or c.isascii() for c in t) for t in dd.text.values())
    name, value = _lines(root / "data_aishell3" / "test" / "content.txt")[0].split("\t")
    assert dd.text[name[:-4]] == "".join(value.split()[0::2])


def check_wenetspeech(root: Path, out: Path) -> None:
    dd = read_data_dir(out / "test_meeting")
    assert dd.segments is not None and len(dd) == 2
    assert set(dd.utt2lang.values()) == {"zh"}


def check_mls(root: Path, out: Path) -> None:
    dd = read_data_dir(out / "dev")
    utt, text = _lines(root / "mls_english" / "dev" / "transcripts.txt")[0].split("\t")
    assert dd.text[utt] == text and dd.utt2spk[utt] == utt.split("_")[0]


def check_tedlium3(root: Path, out: Path) -> None:
    dd = read_data_dir(out / "dev")
    assert len(dd) == 3  # the ignore_time_segment_in_scoring line is not an utterance
    assert all(" '" not in t for t in dd.text.values())  # "it 's" -> "it's"


CASES = {
    # corpus: (fake tree, data dirs it must write, content check)
    "librispeech": ("librispeech", 7, check_librispeech),
    "aishell2": ("aishell2", 3, check_aishell2),
    "libritts": ("libritts", 6, check_libritts),
    "covost2": ("covost2", 8, check_covost2),
    "commonvoice": ("covost2", 6, check_commonvoice),
    "gigaspeech": ("gigas2s", 3, check_gigaspeech),
    "gigas2s": ("gigas2s", 3, check_gigas2s),
    "aishell1": ("aishell1", 3, check_aishell1),
    "aishell3": ("aishell3", 2, check_aishell3),
    "wenetspeech": ("wenetspeech", 4, check_wenetspeech),
    "mls": ("mls", 3, check_mls),
    "tedlium3": ("tedlium3", 3, check_tedlium3),
}
OPTIONS = {"libritts": ["combine={train_960: [train_clean_100, train_clean_360, train_other_500]}"]}


@pytest.mark.parametrize("corpus", sorted(CASES))
def test_prepare_on_fake_tree(corpus, fake_trees, tmp_path):
    tree, n_dirs, check = CASES[corpus]
    root = fake_trees[tree]
    out = tmp_path / "data"
    result = prepare(corpus, root, out, overrides=OPTIONS.get(corpus, ()))
    assert len(result) == n_dirs
    for name, n in result.items():
        dd, problems = validate_data_dir(out / name, check_audio=True, nj=2)
        assert problems == [], [str(p) for p in problems]
        assert len(dd) == n > 0
        assert (out / name / ".done").is_file()
    check(root, out)
    # a rerun with the same options skips every dir (nothing is rewritten)
    stamps = {n: (out / n / "utt2spk").stat().st_mtime_ns for n in result}
    again = prepare(corpus, root, out, overrides=OPTIONS.get(corpus, ()))
    assert again == result
    assert stamps == {n: (out / n / "utt2spk").stat().st_mtime_ns for n in result}


@pytest.mark.parametrize("corpus", ["librispeech", "covost2", "aishell1", "gigaspeech", "gigas2s"])
def test_parallel_jobs_write_the_same_dirs(corpus, fake_trees, tmp_path):
    """--nj 3 builds subsets in parallel; every file equals the one-job result, byte for byte."""
    tree = CASES[corpus][0]
    one = prepare(corpus, fake_trees[tree], tmp_path / "nj1", nj=1)
    three = prepare(corpus, fake_trees[tree], tmp_path / "nj3", nj=3)
    assert one == three and list(one) == list(three)  # same counts, same order
    for name in one:
        files = sorted(p.name for p in (tmp_path / "nj1" / name).iterdir())
        assert files == sorted(p.name for p in (tmp_path / "nj3" / name).iterdir())
        for f in files:
            assert (tmp_path / "nj1" / name / f).read_bytes() == (
                tmp_path / "nj3" / name / f
            ).read_bytes(), f"{name}/{f}"


def test_changed_options_rewrite(fake_trees, tmp_path):
    out = tmp_path / "data"
    prepare("librispeech", fake_trees["librispeech"], out, ["dev-clean"])
    lower = read_table(out / "dev_clean" / "text")
    prepare(
        "librispeech", fake_trees["librispeech"], out, ["dev-clean"], overrides=["lowercase=false"]
    )
    upper = read_table(out / "dev_clean" / "text")
    assert {u: t.lower() for u, t in upper.items()} == lower and upper != lower


def test_punctuation_hook_applies(fake_trees, tmp_path):
    hook = tmp_path / "punct.py"
    hook.write_text(
        "def punctuate(texts, lang):\n    return [t[:1].upper() + t[1:] + '.' for t in texts]\n"
    )
    out = tmp_path / "data"
    prepare(
        "librispeech",
        fake_trees["librispeech"],
        out,
        ["test-other"],
        overrides=["punctuation.kind=python", f"punctuation.path={hook}:punctuate"],
    )
    texts = read_table(out / "test_other" / "text").values()
    assert texts and all(t.endswith(".") and t[0].isupper() for t in texts)


# ------------------------------------------------------------------------------ bad input
def _copy(tree: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "copy"
    shutil.copytree(tree, dst)
    return dst


def test_missing_audio_names_the_utterance(fake_trees, tmp_path):
    root = _copy(fake_trees["librispeech"], tmp_path)
    flac = sorted((root / "LibriSpeech" / "dev-clean").glob("*/*/*.flac"))[0]
    flac.unlink()
    with pytest.raises(DataDirError, match=f"utterance '{flac.stem}'.*not found"):
        prepare("librispeech", root, tmp_path / "out", ["dev-clean"])


def test_empty_transcript_names_file_and_line(fake_trees, tmp_path):
    root = _copy(fake_trees["aishell2"], tmp_path)
    trans = root / "AISHELL-2" / "iOS" / "data" / "trans.txt"
    lines = _lines(trans)
    lines[1] = lines[1].split("\t")[0] + "\t"
    trans.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(DataDirError, match=r"trans\.txt:2: utterance '.*': empty value"):
        prepare("aishell2", root, tmp_path / "out", ["train"])


def test_covost_tsv_without_translation_column(fake_trees, tmp_path):
    root = _copy(fake_trees["covost2"], tmp_path)
    tsv = root / "covost_v2.en_zh-CN.tsv"
    tsv.write_text(tsv.read_text().replace("translation", "tr"), encoding="utf-8")
    with pytest.raises(DataDirError, match="covost_v2.en_zh-CN.tsv: missing column"):
        prepare("covost2", root, tmp_path / "out", ["test_en_zh"])


def test_malformed_json_names_the_line(fake_trees, tmp_path):
    root = _copy(fake_trees["gigas2s"], tmp_path)
    path = root / "GigaST" / "GigaST.zh.json"
    path.write_text(path.read_text()[:-20], encoding="utf-8")
    with pytest.raises(DataDirError, match=r"GigaST.zh.json: line \d+: malformed JSON"):
        prepare("gigas2s", root, tmp_path / "out", ["test"])


def test_unknown_option_subset_and_source(fake_trees, tmp_path):
    with pytest.raises(ValueError, match="unknown key 'lowercas'"):
        prepare("librispeech", fake_trees["librispeech"], tmp_path, overrides=["lowercas=1"])
    with pytest.raises(ValueError, match="unknown subset 'test-dirty'"):
        prepare("librispeech", fake_trees["librispeech"], tmp_path, ["test-dirty"])
    with pytest.raises(ValueError, match="corpus root not found"):
        prepare("libritts", tmp_path / "nowhere", tmp_path)


def test_prepare_data_entry_point_one_line_error(tmp_path):
    import subprocess
    import sys

    res = subprocess.run(
        [sys.executable, "-m", "espnet_codec_lm.bin.prepare_data", "--corpus", "covost2",
         "--src", str(tmp_path / "none"), "--out", str(tmp_path / "out")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert res.returncode == 1
    assert res.stderr.strip().count("\n") == 0 and "covost2" in res.stderr
