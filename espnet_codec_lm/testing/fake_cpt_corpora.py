"""Tiny fake trees of the other corpora of the CPT mix (SPEC section 6), in their published layouts.

Same generator and conventions as :mod:`espnet_codec_lm.testing.fake_corpora` (grammar sentences
spoken by espeak-ng voices; deterministic from ``seed``):

- AISHELL-3: ``data_aishell3/{train,test}/content.txt`` (character + tone pinyin pairs) and
  ``wav/<spk>/<utt>.wav`` at 44.1 kHz.
- WenetSpeech: ``WenetSpeech.json`` (plain subset names ``L``, ``M``, ``S``, ``DEV``,
  ``TEST_NET``, ``TEST_MEETING``) and Opus recordings under ``audio/``.
- MLS English: ``mls_english/{train,dev,test}/transcripts.txt`` + ``audio/<spk>/<book>/*.flac``.
- TED-LIUM 3: ``TEDLIUM_release-3/legacy/{train,dev,test}/{sph,stm}`` with 16 kHz NIST SPHERE.
- AISHELL-1: ``data_aishell/wav/{train,dev,test}/<spk>/<utt>.wav`` and
  ``data_aishell/transcript/aishell_transcript_v0.8.txt`` (word-segmented with spaces).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from espnet_codec_lm.testing.fake_corpora import (
    SAMPLE_RATE,
    SpeechMaker,
    _write_audio,
    _write_lines,
    en_upper_nopunct,
    zh_nopunct,
)


def _pinyin_pairs(zh: str) -> str:
    from pypinyin import Style, lazy_pinyin

    chars = [c for c in zh_nopunct(zh)]
    pins = lazy_pinyin(chars, style=Style.TONE3, neutral_tone_with_five=True)
    return " ".join(f"{c} {p}" for c, p in zip(chars, pins))


def make_fake_aishell3(
    root: str | Path, speakers: int = 2, utts: int = 2, seed: int = 5, maker=None
) -> Path:
    """``root/data_aishell3`` with ``train`` and ``test``."""
    maker = maker or SpeechMaker(seed)
    base = Path(root) / "data_aishell3"
    for si, split in enumerate(("train", "test")):
        lines = []
        for s in range(speakers):
            spk = f"SSB{100 * (si + 1) + s:04d}"
            for k, pair in enumerate(maker.pairs(utts)):
                utt = f"{spk}{k + 1:04d}"
                wav = maker.speak(zh_nopunct(pair.zh), "zh", s, 44100)
                _write_audio(base / split / "wav" / spk / f"{utt}.wav", wav, 44100, "WAV", "PCM_16")
                lines.append(f"{utt}.wav\t{_pinyin_pairs(pair.zh)}")
        _write_lines(base / split / "content.txt", lines)
    return base


def _long_recording(maker: SpeechMaker, texts: list[str], lang: str, speaker: int):
    """Speech of ``texts`` with pauses, and each one's (begin, end) in seconds."""
    pieces = [np.zeros(int(0.3 * SAMPLE_RATE), np.float32)]
    spans, t = [], 0.3
    for text in texts:
        wav = maker.speak(text, lang, speaker)
        spans.append((round(t, 2), round(t + len(wav) / SAMPLE_RATE, 2)))
        pieces += [wav, np.zeros(int(0.4 * SAMPLE_RATE), np.float32)]
        t += len(wav) / SAMPLE_RATE + 0.4
    return np.concatenate(pieces), spans


def make_fake_wenetspeech(
    root: str | Path, segments: int = 2, seed: int = 6, maker: SpeechMaker | None = None
) -> Path:
    """``root/WenetSpeech.json`` + Opus recordings; one recording per subset group."""
    maker = maker or SpeechMaker(seed)
    root = Path(root)
    audios = []
    groups = [["L", "M", "S"], ["L", "M"], ["DEV"], ["TEST_NET"], ["TEST_MEETING"]]
    for i, subsets in enumerate(groups):
        aid = f"Y{i:010d}_fake{i}"
        folder = "train" if subsets[0] in "LMS" else subsets[0].lower()
        rel = f"audio/{folder}/youtube/B{i:05d}/{aid}.opus"
        texts = [zh_nopunct(p.zh) for p in maker.pairs(segments)]
        audio, spans = _long_recording(maker, texts, "zh", i)
        _write_audio(root / rel, audio, SAMPLE_RATE, "OGG", "OPUS")
        segs = [
            {"sid": f"{aid}_S{k:05d}", "begin_time": b, "end_time": e, "text": t,
             "confidence": 1.0, "subsets": subsets}
            for k, ((b, e), t) in enumerate(zip(spans, texts))
        ]  # fmt: skip
        audios.append({"aid": aid, "path": rel, "duration": len(audio) / SAMPLE_RATE,
                       "segments": segs})  # fmt: skip
    meta = {"dataset": "WenetSpeech", "language": "Chinese", "version": "v1.0", "audios": audios}
    (root / "WenetSpeech.json").write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
    return root


def make_fake_mls(
    root: str | Path, speakers: int = 2, utts: int = 2, seed: int = 7, maker=None
) -> Path:
    """``root/mls_english`` with FLAC audio and ``transcripts.txt`` per split."""
    maker = maker or SpeechMaker(seed)
    base = Path(root) / "mls_english"
    for si, split in enumerate(("train", "dev", "test")):
        lines = []
        for s in range(speakers):
            spk, book = str(1000 + 10 * si + s), str(200 + s)
            for k, pair in enumerate(maker.pairs(utts)):
                utt = f"{spk}_{book}_{k:06d}"
                text = en_upper_nopunct(pair.en).lower()
                wav = maker.speak(pair.en, "en", s)
                _write_audio(base / split / "audio" / spk / book / f"{utt}.flac", wav, SAMPLE_RATE,
                             "FLAC", "PCM_16")  # fmt: skip
                lines.append(f"{utt}\t{text}")
        _write_lines(base / split / "transcripts.txt", lines)
    return base


def make_fake_tedlium3(
    root: str | Path, talks: int = 1, segments: int = 3, seed: int = 8, maker=None
) -> Path:
    """``root/TEDLIUM_release-3/legacy/{train,dev,test}`` with SPHERE audio and STM files."""
    maker = maker or SpeechMaker(seed)
    base = Path(root) / "TEDLIUM_release-3"
    for si, split in enumerate(("train", "dev", "test")):
        for t in range(talks):
            talk = f"Speaker{si}{t}_{2010 + t}"
            texts = [en_upper_nopunct(p.en).lower() for p in maker.pairs(segments)]
            # the release splits contractions: "it's" is written "it 's"
            stm_texts = [x.replace("'", " '") for x in texts]
            audio, spans = _long_recording(maker, texts, "en", t)
            d = base / "legacy" / split
            _write_audio(d / "sph" / f"{talk}.sph", audio, SAMPLE_RATE, "NIST", "PCM_16")
            lines = [
                f"{talk} 1 {talk} {b:.2f} {e:.2f} <o,f0,male> {x}"
                for (b, e), x in zip(spans, stm_texts)
            ]
            end = spans[-1][1]
            lines.append(f"{talk} 1 inter_segment_gap {end:.2f} {end + 0.3:.2f} <o,,unknown> "
                         "ignore_time_segment_in_scoring")  # fmt: skip
            _write_lines(d / "stm" / f"{talk}.stm", lines)
    return base


def make_fake_aishell1(
    root: str | Path, speakers: int = 2, utts: int = 2, seed: int = 9, maker=None
) -> Path:
    """``root/data_aishell`` (wav/<split>/<spk>/*.wav + the one transcript file)."""
    maker = maker or SpeechMaker(seed)
    base = Path(root) / "data_aishell"
    lines = []
    for si, split in enumerate(("train", "dev", "test")):
        for s in range(speakers):
            spk = f"S{100 * (si + 1) + s:04d}"
            for k, pair in enumerate(maker.pairs(utts)):
                utt = f"BAC009{spk}W{k + 1:04d}"
                zh = zh_nopunct(pair.zh)
                wav = maker.speak(zh, "zh", s)
                _write_audio(base / "wav" / split / spk / f"{utt}.wav", wav, SAMPLE_RATE, "WAV",
                             "PCM_16")  # fmt: skip
                # the release is word-segmented; 2-character chunks stand in for its words
                words = [zh[i : i + 2] for i in range(0, len(zh), 2)]
                lines.append(f"{utt} {' '.join(words)}")
    # as in the release, a WAV without a transcript (the preparer must drop it)
    orphan = maker.speak("你好", "zh", 0)
    _write_audio(base / "wav" / "train" / "S0100" / "BAC009S0100W9999.wav", orphan, SAMPLE_RATE,
                 "WAV", "PCM_16")  # fmt: skip
    _write_lines(base / "transcript" / "aishell_transcript_v0.8.txt", sorted(lines))
    return base
