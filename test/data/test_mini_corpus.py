"""The mini bilingual corpus: layout, splits, speakers, audio format, S2ST targets, text pools,
validity, determinism (same seed -> identical files, whatever nj), resume, and the CLI."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import soundfile as sf

from espnet_codec_lm.bin import prepare_data
from espnet_codec_lm.data.data_dir import read_data_dir
from espnet_codec_lm.data.espeak import espeak_available
from espnet_codec_lm.data.mini_corpus import SIZES, TARGET_VOICE, plan
from espnet_codec_lm.data.validate import validate_data_dir
from espnet_codec_lm.testing.audio import make_tiny_corpus

pytestmark = pytest.mark.skipif(not espeak_available(), reason="espeak-ng is not installed")
SPLITS = ("train", "dev", "test")


def _files(root: Path) -> dict[str, bytes]:
    """Every file under root, with the root path itself blanked out of scp files."""
    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_file() and p.name != "stats.yaml":  # stats hold the timing
            out[str(p.relative_to(root))] = p.read_bytes().replace(str(root).encode(), b"ROOT")
    return out


def test_layout_and_validity(tiny_corpus):
    for split in SPLITS:
        d = tiny_corpus / split
        for name in (
            "wav.scp",
            "text",
            "utt2spk",
            "spk2utt",
            "utt2lang",
            "text.en",
            "text.zh",
            "wav_tgt.scp",
            "utt2dur",
        ):
            assert (d / name).is_file(), f"{split}/{name}"
        _, problems = validate_data_dir(d)
        assert problems == [], [str(p) for p in problems]
    for name in ("general.en", "general.zh", "mt.en-zh.tsv", "heldout.en", "heldout.zh"):
        assert (tiny_corpus / "text_pool" / name).stat().st_size > 0


def test_speakers_languages_and_translations(tiny_corpus):
    for split in SPLITS:
        dd = read_data_dir(tiny_corpus / split)
        en, zh = dd.select(lang="en"), dd.select(lang="zh")
        for part, lang in ((en, "en"), (zh, "zh")):
            spk2utt = part.spk2utt()
            assert len(spk2utt) >= 8, (split, lang)
            assert min(len(v) for v in spk2utt.values()) >= 2  # a prompt from another utterance
            assert all(u.startswith(s + "-") for s, us in spk2utt.items() for u in us)
        assert set(dd.translations["zh"]) == set(en.utt_ids)
        assert set(dd.translations["en"]) == set(zh.utt_ids)
        assert set(dd.wav_tgt) == set(en.utt_ids)  # S2ST: English source -> Mandarin target
        for u in en.utt_ids:
            assert re.search(r"[A-Za-z]", dd.text[u]) and re.search(
                r"[\u4e00-\u9fff]", dd.translations["zh"][u]
            )
        for u in zh.utt_ids:
            assert re.search(r"[\u4e00-\u9fff]", dd.text[u]) and dd.text[u][-1] in "。？"


def test_audio_format_and_durations(tiny_corpus):
    dd = read_data_dir(tiny_corpus / "dev")
    for u in dd.utt_ids[:10]:
        for path in (dd.wav_scp[u], dd.wav_tgt.get(u)):
            if path is None:
                continue
            info = sf.info(path)
            assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
            assert 0.8 < info.duration < 10
        assert dd.utt2dur[u] == pytest.approx(sf.info(dd.wav_scp[u]).duration, abs=1e-3)


def test_no_sentence_shared_between_splits_or_with_pools(tiny_corpus):
    sents = {}
    for split in SPLITS:
        dd = read_data_dir(tiny_corpus / split)
        sents[split] = set(dd.text.values()) | {
            t for tr in dd.translations.values() for t in tr.values()
        }
    assert not sents["train"] & sents["test"]
    assert not sents["train"] & sents["dev"] and not sents["dev"] & sents["test"]
    pool = set()
    for f in (tiny_corpus / "text_pool").iterdir():
        for line in f.read_text(encoding="utf-8").splitlines():
            pool.update(line.split("\t"))
    assert not pool & (sents["test"] | sents["dev"])
    heldout = set((tiny_corpus / "text_pool" / "heldout.en").read_text().splitlines())
    general = set((tiny_corpus / "text_pool" / "general.en").read_text().splitlines())
    assert not heldout & (general | sents["train"])


def test_target_voice_is_fixed(tiny_corpus):
    rows = (tiny_corpus / "speakers.tsv").read_text().splitlines()
    tgt = [r.split("\t") for r in rows if r.startswith("zhtgt")]
    assert tgt == [
        ["zhtgt", "zh", TARGET_VOICE.voice, str(TARGET_VOICE.pitch), str(TARGET_VOICE.rate)]
    ]
    voices = {r.split("\t")[2:] == tgt[0][2:] for r in rows[1:] if not r.startswith("zhtgt")}
    assert voices == {False}  # no source speaker uses the target voice


def test_same_seed_same_bytes_any_nj_and_other_seed_differs(tiny_corpus, tmp_path):
    again = make_tiny_corpus(tmp_path / "again", seed=0, nj=1)
    assert _files(again) == _files(tiny_corpus)
    other = plan(SIZES["tiny"].__class__(**{**SIZES["tiny"].__dict__, "seed": 1}))[0]
    assert [u.pair for u in other] != [u.pair for u in plan(SIZES["tiny"])[0]]


def test_rerun_skips_and_resumes(tiny_corpus, tmp_path):
    import shutil

    copy = tmp_path / "c"
    shutil.copytree(tiny_corpus, copy)
    # an interrupted run: marker and some wavs missing -> only those are made again
    (copy / ".done").unlink()
    victim = sorted((copy / "wav" / "test").iterdir())[0]
    victim.unlink()
    keep = sorted((copy / "wav" / "train").iterdir())[0]
    mtime = keep.stat().st_mtime_ns
    make_tiny_corpus(copy, seed=0, nj=2)
    assert victim.is_file() and keep.stat().st_mtime_ns == mtime
    assert (copy / ".done").is_file()


def test_cli_errors_are_one_line(tmp_path, capsys):
    assert prepare_data.main(["--corpus", "nope", "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "unknown corpus 'nope'" in err and "mini_bilingual" in err
    assert (
        prepare_data.main(["--corpus", "mini_bilingual", "--out", str(tmp_path), "--size", "huge"])
        == 1
    )
    assert "unknown size 'huge'" in capsys.readouterr().err
    assert (
        prepare_data.main(["--corpus", "mini_bilingual", "--out", str(tmp_path), "bogus_key=1"])
        == 1
    )
    assert "unknown key 'bogus_key'" in capsys.readouterr().err


def test_cli_help_is_fast():
    r = subprocess.run(
        [sys.executable, "-m", "espnet_codec_lm.bin.prepare_data", "--help"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert r.returncode == 0 and "Usage:" in r.stdout
