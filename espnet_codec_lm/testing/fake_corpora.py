"""Tiny corpora in the exact on-disk layouts of the real ones, for testing their preparers.

Each ``make_fake_<corpus>(root)`` writes a few utterances per subset, laid out as the published
corpus is after unpacking (file names, directory depth, transcript formats, audio formats and
sample rates), with speech and text from the mini corpus generator: English and Mandarin
sentences of the aligned grammar (:mod:`espnet_codec_lm.data.grammar`) spoken by espeak-ng voices
(:mod:`espnet_codec_lm.data.espeak`). Without espeak-ng, ``speech_like`` noise stands in (the
layout is what is under test). Everything is deterministic from ``seed``.

Layouts (what each preparer in :mod:`espnet_codec_lm.data.corpora` reads):

- LibriSpeech: ``LibriSpeech/<subset>/<reader>/<chapter>/<reader>-<chapter>-<nnnn>.flac`` plus
  ``<reader>-<chapter>.trans.txt`` (upper case, no punctuation), 16 kHz FLAC.
- AISHELL-2: ``AISHELL-2/iOS/data/{wav.scp,trans.txt,wav/C0001/IC0001W0001.wav}`` (tab-separated,
  relative paths) and the separate dev/test package
  ``AISHELL-DEV-TEST-SET/iOS/{dev,test}/{wav.scp,trans.txt,wav/...}``.
- LibriTTS: ``LibriTTS/<subset>/<spk>/<chapter>/<spk>_<chapter>_<para>_<sent>.wav`` (24 kHz) with
  ``.normalized.txt`` / ``.original.txt``, per-chapter ``.trans.tsv`` / ``.book.tsv``, ``speakers.tsv``.
- CoVoST 2: ``covost_v2.<src>_<tgt>.tsv`` (``path sentence translation client_id split``) beside
  Common Voice language dirs ``en/`` and ``zh-CN/`` (``clips/*.mp3`` at 48 kHz, ``validated.tsv``
  and the split TSVs with the CV 4 columns).
- GigaSpeech + GigaST + GigaS2S: see :func:`make_fake_gigas2s`.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from espnet_codec_lm.data.espeak import espeak_available, synthesize
from espnet_codec_lm.data.grammar import SentencePair, sample_unique_pairs
from espnet_codec_lm.data.mini_corpus import EN_SPEAKERS, TARGET_VOICE, ZH_SPEAKERS
from espnet_codec_lm.testing.audio import speech_like

SAMPLE_RATE = 16000
_EN_PUNCT = re.compile(r"[^A-Za-z' ]+")
_ZH_PUNCT = re.compile(r"[，。？！、：；,.?!]")


def en_upper_nopunct(text: str) -> str:
    """LibriSpeech-style transcript: upper case, letters and apostrophes only."""
    return " ".join(_EN_PUNCT.sub(" ", text).upper().split())


def zh_nopunct(text: str) -> str:
    """AISHELL-style transcript: the characters without punctuation or spaces."""
    return _ZH_PUNCT.sub("", text).replace(" ", "")


@dataclass
class SpeechMaker:
    """Sentences and their speech for fake corpora: grammar pairs, espeak-ng voices."""

    seed: int = 0
    use_espeak: bool | None = None  # None: when the binary exists
    _rng: np.random.Generator = field(init=False, repr=False)
    _pool: list[SentencePair] = field(init=False, repr=False, default_factory=list)

    def __post_init__(self) -> None:
        self._rng = np.random.default_rng(self.seed)
        if self.use_espeak is None:
            self.use_espeak = espeak_available()

    def pairs(self, n: int) -> list[SentencePair]:
        """``n`` new sentence pairs, never repeating one already handed out."""
        while len(self._pool) < n:
            self._pool.extend(sample_unique_pairs(max(64, n), self._rng))
            seen, uniq = set(), []
            for p in self._pool:
                if p.en not in seen:
                    seen.add(p.en)
                    uniq.append(p)
            self._pool = uniq
        out, self._pool = self._pool[:n], self._pool[n:]
        return out

    def speak(self, text: str, lang: str, speaker: int = 0, sample_rate: int = SAMPLE_RATE):
        """Mono float32 speech of ``text`` by voice number ``speaker`` of ``lang``."""
        if self.use_espeak:
            voices = EN_SPEAKERS if lang == "en" else ZH_SPEAKERS
            return synthesize(text, lang, voices[speaker % len(voices)], sample_rate)

        seconds = 0.6 + 0.06 * len(text)
        digest = hashlib.sha256(f"{speaker}:{text}".encode()).digest()
        rng = np.random.default_rng(int.from_bytes(digest[:8], "little"))
        return speech_like(seconds, sample_rate, rng, f0=100.0 + 15 * speaker)

    def target_speak(self, text: str, sample_rate: int = SAMPLE_RATE):
        """The single S2ST target voice (Mandarin)."""
        if self.use_espeak:
            return synthesize(text, "zh", TARGET_VOICE, sample_rate)
        return self.speak(text, "zh", 99, sample_rate)


def _write_audio(path: Path, wav: np.ndarray, sr: int, fmt: str, subtype: str | None = None):
    import soundfile as sf

    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), wav, sr, format=fmt, subtype=subtype)
    return path


def _write_lines(path: Path, lines: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


# --------------------------------------------------------------------------- LibriSpeech
def make_fake_librispeech(
    root: str | Path,
    subsets: tuple[str, ...] = ("train-clean-100", "dev-clean", "test-clean", "test-other"),
    readers: int = 2,
    chapters: int = 1,
    utts: int = 2,
    seed: int = 0,
    maker: SpeechMaker | None = None,
) -> Path:
    """``root/LibriSpeech`` with FLAC audio and per-chapter ``.trans.txt``; returns that dir."""
    maker = maker or SpeechMaker(seed)
    base = Path(root) / "LibriSpeech"
    speakers, chapter_rows = [], []
    reader_id = 19
    for si, subset in enumerate(subsets):
        for r in range(readers):
            reader_id += 7 * (r + 1) + si
            speakers.append(f"{reader_id:<5}| M | {subset:<16}| 25.0 | Reader {reader_id}")
            for c in range(chapters):
                chapter = 121000 + 37 * reader_id + c
                cdir = base / subset / str(reader_id) / str(chapter)
                lines = []
                for k, pair in enumerate(maker.pairs(utts)):
                    utt = f"{reader_id}-{chapter}-{k:04d}"
                    wav = maker.speak(pair.en, "en", r)
                    _write_audio(cdir / f"{utt}.flac", wav, SAMPLE_RATE, "FLAC", "PCM_16")
                    lines.append(f"{utt} {en_upper_nopunct(pair.en)}")
                _write_lines(cdir / f"{reader_id}-{chapter}.trans.txt", lines)
                chapter_rows.append(f"{chapter:<7}| {reader_id:<5}| 10.0 | {subset} | 1 | Book")
    _write_lines(base / "SPEAKERS.TXT", [";ID  |SEX| SUBSET | MINUTES | NAME", *speakers])
    _write_lines(base / "CHAPTERS.TXT", [";ID | READER | MINUTES | SUBSET | BOOK", *chapter_rows])
    _write_lines(base / "README.TXT", ["LibriSpeech ASR corpus (fake, for tests)"])
    return base


# --------------------------------------------------------------------------- AISHELL-2
def _aishell2_set(d: Path, prefix: str, spk_prefix: str, speakers: int, utts: int, maker):
    wav_lines, trans_lines = [], []
    for s in range(speakers):
        spk = f"{spk_prefix}{s + 1:04d}"
        for k, pair in enumerate(maker.pairs(utts)):
            utt = f"{prefix}{spk}W{k + 1:04d}"
            rel = f"wav/{spk}/{utt}.wav"
            _write_audio(d / rel, maker.speak(pair.zh, "zh", s), SAMPLE_RATE, "WAV", "PCM_16")
            wav_lines.append(f"{utt}\t{rel}")
            trans_lines.append(f"{utt}\t{zh_nopunct(pair.zh)}")
    _write_lines(d / "wav.scp", wav_lines)
    _write_lines(d / "trans.txt", trans_lines)


def make_fake_aishell2(
    root: str | Path, speakers: int = 2, utts: int = 2, seed: int = 1, maker=None
) -> Path:
    """``root/AISHELL-2/iOS/data`` (train) and ``root/AISHELL-DEV-TEST-SET/iOS/{dev,test}``."""
    maker = maker or SpeechMaker(seed)
    root = Path(root)
    _aishell2_set(root / "AISHELL-2" / "iOS" / "data", "I", "C", speakers, utts, maker)
    devtest = root / "AISHELL-DEV-TEST-SET" / "iOS"
    _aishell2_set(devtest / "dev", "I", "D", speakers, utts, maker)
    _aishell2_set(devtest / "test", "I", "T", speakers, utts, maker)
    return root


# --------------------------------------------------------------------------- LibriTTS
def make_fake_libritts(
    root: str | Path,
    subsets: tuple[str, ...] = ("train-clean-100", "dev-clean", "test-clean"),
    speakers: int = 2,
    utts: int = 3,
    seed: int = 2,
    maker: SpeechMaker | None = None,
) -> Path:
    """``root/LibriTTS`` with 24 kHz WAVs and ``.normalized.txt`` / ``.original.txt``."""
    maker = maker or SpeechMaker(seed)
    base = Path(root) / "LibriTTS"
    spk_rows = ["READER\tGENDER\tSUBSET\tNAME"]
    spk_id = 30
    for si, subset in enumerate(subsets):
        for s in range(speakers):
            spk_id += 11 * (s + 1) + si
            spk_rows.append(f"{spk_id}\t{'MF'[s % 2]}\t{subset}\tReader {spk_id}")
            chapter = 5000 + 13 * spk_id
            cdir = base / subset / str(spk_id) / str(chapter)
            trans_rows = []
            for k, pair in enumerate(maker.pairs(utts)):
                utt = f"{spk_id}_{chapter}_{k // 2:06d}_{k % 2 + 1:06d}"
                wav = maker.speak(pair.en, "en", s, 24000)
                _write_audio(cdir / f"{utt}.wav", wav, 24000, "WAV", "PCM_16")
                # the original text keeps the book's spelling; normalisation expands it
                original = pair.en.replace(" and ", " & ")
                (cdir / f"{utt}.normalized.txt").write_text(pair.en, encoding="utf-8")
                (cdir / f"{utt}.original.txt").write_text(original, encoding="utf-8")
                trans_rows.append(f"{utt}\t{original}\t{pair.en}")
            _write_lines(cdir / f"{spk_id}_{chapter}.trans.tsv", trans_rows)
            _write_lines(cdir / f"{spk_id}_{chapter}.book.tsv", [f"{r}\t" for r in trans_rows])
    _write_lines(base / "speakers.tsv", spk_rows)
    return base


# --------------------------------------------------------------------------- Common Voice / CoVoST 2
CV_COLUMNS = ["client_id", "path", "sentence", "up_votes", "down_votes", "age", "gender", "accent"]


def _write_tsv(path: Path, columns: list[str], rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, delimiter="\t", quoting=csv.QUOTE_NONE, escapechar="\\")
        w.writerow(columns)
        for r in rows:
            w.writerow([r.get(c, "") for c in columns])
    return path


def make_fake_commonvoice(
    root: str | Path,
    langs: tuple[str, ...] = ("en", "zh-CN"),
    clients: int = 2,
    utts: dict[str, int] | None = None,
    seed: int = 3,
    maker: SpeechMaker | None = None,
) -> dict[str, list[dict]]:
    """Common Voice language dirs ``root/<lang>/`` (``clips/*.mp3`` at 48 kHz + the TSVs).

    Returns, per language, the validated rows (with the grammar pair under ``"pair"`` and the
    split under ``"split"``) so CoVoST 2 files can be derived from them.
    """
    maker = maker or SpeechMaker(seed)
    utts = utts or {"train": 2, "dev": 1, "test": 1}
    out: dict[str, list[dict]] = {}
    n = 17
    for lang in langs:
        code = "en" if lang == "en" else "zh"
        d = Path(root) / lang
        rows: list[dict] = []
        for c in range(clients):
            client = f"{seed:02d}{c:02d}" + "ab" * 31  # CV client ids are 128-bit hex strings
            for split, k in utts.items():
                for pair in maker.pairs(k):
                    n += 3
                    name = f"common_voice_{lang}_{1000 + n}.mp3"
                    sentence = pair.en if code == "en" else zh_nopunct(pair.zh)
                    wav = maker.speak(sentence, code, c, 48000)
                    _write_audio(d / "clips" / name, wav, 48000, "MP3", "MPEG_LAYER_III")
                    rows.append(
                        {"client_id": client, "path": name, "sentence": sentence,
                         "up_votes": 2, "down_votes": 0, "age": "", "gender": "", "accent": "",
                         "split": split, "pair": pair}
                    )  # fmt: skip
        _write_tsv(d / "validated.tsv", CV_COLUMNS, rows)
        for split in ("train", "dev", "test"):
            _write_tsv(d / f"{split}.tsv", CV_COLUMNS, [r for r in rows if r["split"] == split])
        _write_tsv(d / "invalidated.tsv", CV_COLUMNS, [])
        _write_tsv(d / "other.tsv", CV_COLUMNS, [])
        out[lang] = rows
    return out


def make_fake_covost2(root: str | Path, seed: int = 3, maker: SpeechMaker | None = None) -> Path:
    """CoVoST 2 EN->ZH and ZH->EN: ``covost_v2.<src>_<tgt>.tsv`` next to Common Voice dirs.

    The translation TSVs have the released columns ``path sentence translation client_id split``;
    as in the release, some training rows are marked ``train_covost``.
    """
    root = Path(root)
    cv = make_fake_commonvoice(root, ("en", "zh-CN"), seed=seed, maker=maker)
    cols = ["path", "sentence", "translation", "client_id", "split"]
    for src, tgt in (("en", "zh-CN"), ("zh-CN", "en")):
        rows = []
        for i, r in enumerate(cv[src]):
            split = r["split"]
            if split == "train" and i % 2:
                split = "train_covost"
            translation = r["pair"].zh if tgt == "zh-CN" else r["pair"].en
            rows.append({**r, "translation": translation, "split": split})
        _write_tsv(root / f"covost_v2.{src}_{tgt}.tsv", cols, rows)
    return root


# --------------------------------------------------------------------------- GigaSpeech family
GIGA_PUNCT = {",": " <COMMA>", ".": " <PERIOD>", "?": " <QUESTIONMARK>", "!": " <EXCLAMATIONPOINT>"}


def giga_text_tn(text: str) -> str:
    """GigaSpeech ``text_tn``: upper case, punctuation as tags (``<COMMA>``, ``<PERIOD>``...)."""
    for p, tag in GIGA_PUNCT.items():
        text = text.replace(p, tag)
    return " ".join(text.upper().split())


def make_fake_gigas2s(
    root: str | Path,
    recordings: dict[str, int] | None = None,
    segments: int = 3,
    seed: int = 4,
    maker: SpeechMaker | None = None,
) -> Path:
    """GigaSpeech (``GigaSpeech.json`` + Opus recordings), GigaST (``GigaST.zh.json``) and
    GigaS2S (``GigaS2S/EN2ZH/train.tsv`` + single-speaker Mandarin target WAVs) under ``root``.

    Layout assumed from the public descriptions (see doc/recipes.md)::

        root/GigaSpeech/GigaSpeech.json          audios[]: aid, path, subsets, segments[]:
                                                 sid, begin_time, end_time, text_tn, subsets
        root/GigaSpeech/audio/<source>/P<nnnn>/<aid>.opus   (decrypted, 16 kHz)
        root/GigaST/GigaST.zh.json               audios[].segments[]: sid, text_raw, extra
        root/GigaS2S/EN2ZH/train.tsv             id, src_text, tgt_text (header line)
        root/GigaS2S/EN2ZH/ZH/train/<sid>_ZH.wav (from the split train.tar.gz)

    ``recordings`` maps a GigaSpeech subset tag (``XL``, ``DEV``, ``TEST``...) to how many
    recordings carry it; each recording has ``segments`` speech segments plus one ``<MUSIC>``
    segment, as GigaSpeech has. Training recordings are in ``{XL}`` and the smaller subsets.
    """
    maker = maker or SpeechMaker(seed)
    root = Path(root)
    recordings = recordings or {"XS": 2, "DEV": 1, "TEST": 1}
    giga_audios, st_audios, s2s_rows = [], [], []
    nested = ["XL", "L", "M", "S", "XS"]
    n_rec = 0
    for tag, count in recordings.items():
        tags = nested[: nested.index(tag) + 1] if tag in nested else [tag]
        subsets = [f"{{{t}}}" for t in tags]
        for _ in range(count):
            n_rec += 1
            source, prefix = [("podcast", "POD"), ("youtube", "YOU"), ("audiobook", "AUD")][
                n_rec % 3
            ]
            aid = f"{prefix}{n_rec:010d}"
            rel = f"audio/{source}/P{n_rec:04d}/{aid}.opus"
            pieces, segs, st_segs = [], [], []
            t = 0.3
            pieces.append(np.zeros(int(0.3 * SAMPLE_RATE), np.float32))
            for k, pair in enumerate(maker.pairs(segments)):
                wav = maker.speak(pair.en, "en", n_rec)
                sid = f"{aid}_S{k + 1:07d}"
                begin, end = round(t, 2), round(t + len(wav) / SAMPLE_RATE, 2)
                segs.append({"sid": sid, "speaker": "N/A", "begin_time": begin,
                             "end_time": end, "text_tn": giga_text_tn(pair.en),
                             "subsets": subsets})  # fmt: skip
                st_segs.append({"sid": sid, "text_raw": pair.zh, "extra": {"alignment_score": 8.5}})
                if tag not in ("DEV", "TEST"):
                    s2s_rows.append((sid, pair.en, pair.zh))
                    tgt = maker.target_speak(pair.zh)
                    wdir = root / "GigaS2S" / "EN2ZH" / "ZH" / "train"
                    _write_audio(wdir / f"{sid}_ZH.wav", tgt, SAMPLE_RATE, "WAV", "PCM_16")
                pieces += [wav, np.zeros(int(0.4 * SAMPLE_RATE), np.float32)]
                t = end + 0.4
            # a non-speech segment, which GigaST does not translate
            music = 0.05 * np.sin(np.arange(int(0.8 * SAMPLE_RATE)) * 0.05).astype(np.float32)
            segs.append({"sid": f"{aid}_S{segments + 1:07d}", "speaker": "N/A",
                         "begin_time": round(t, 2), "end_time": round(t + 0.8, 2),
                         "text_tn": "<MUSIC>", "subsets": subsets})  # fmt: skip
            pieces.append(music)
            audio = np.concatenate(pieces)
            _write_audio(root / "GigaSpeech" / rel, audio, SAMPLE_RATE, "OGG", "OPUS")
            giga_audios.append(
                {"title": f"Fake {aid}", "url": "", "path": rel, "aid": aid, "source": source,
                 "speaker": "N/A", "duration": round(len(audio) / SAMPLE_RATE, 3),
                 "format": "opus", "sample_rate": SAMPLE_RATE, "channels": 1,
                 "category": "People and Blogs", "subsets": subsets, "segments": segs}
            )  # fmt: skip
            st_audios.append({"segments": st_segs})
    meta = {"dataset": "GigaSpeech", "language": "EN", "version": "v1.0.0"}
    (root / "GigaSpeech" / "GigaSpeech.json").write_text(
        json.dumps({**meta, "audios": giga_audios}, indent=1), encoding="utf-8"
    )
    st_meta = {"dataset": "GigaST", "description": "fake", "language": "ZH", "version": "v1.0.0"}
    (root / "GigaST").mkdir(parents=True, exist_ok=True)
    (root / "GigaST" / "GigaST.zh.json").write_text(
        json.dumps({**st_meta, "audios": st_audios}, ensure_ascii=False, indent=1),
        encoding="utf-8",
    )
    _write_lines(
        root / "GigaS2S" / "EN2ZH" / "train.tsv",
        ["id\tsrc_text\ttgt_text"] + [f"{s}\t{en}\t{zh}" for s, en, zh in s2s_rows],
    )
    return root
