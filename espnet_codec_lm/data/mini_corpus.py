"""The synthetic bilingual (English / Mandarin) mini corpus: speech from espeak-ng, text from the
aligned template grammar (:mod:`espnet_codec_lm.data.grammar`).

Layout written under ``out``::

    train/ dev/ test/          Kaldi data dirs: wav.scp text utt2spk spk2utt utt2lang utt2dur
                               text.zh (translations of English utterances), text.en (of Mandarin
                               ones), wav_tgt.scp (English utterances only: Mandarin speech of the
                               translation in one fixed target voice, for S2ST)
    wav/<split>/<utt>.wav      16 kHz mono PCM-16 source speech
    wav_tgt/<split>/<utt>.wav  the S2ST target speech
    text_pool/general.{en,zh}  text-only CPT data (one sentence a line)
    text_pool/mt.en-zh.tsv     MT pairs (``english<TAB>mandarin``)
    text_pool/heldout.{en,zh}  held-out general text for perplexity
    speakers.tsv               speaker id, language, espeak voice, pitch, rate
    stats.yaml                 utterances, hours, speakers, vocabulary sizes, generation time

Every sentence pair is used once: test, dev, train and the text pools are disjoint, so no
sentence is shared between train and test (nor between the pools and test). All random choices
are drawn from one seeded generator *before* synthesis, so the corpus does not depend on ``nj``.
Speakers are shared by all splits and each speaker has several utterances in every split, so a
TTS speaker prompt can always be taken from another utterance of the same speaker.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from espnet_codec_lm.data.data_dir import DataDir, write_data_dir
from espnet_codec_lm.data.espeak import ZH_VOICE, Voice, count_han, synthesize
from espnet_codec_lm.data.grammar import SentencePair, sample_unique_pairs
from espnet_codec_lm.utils.fileio import atomic_path, atomic_write_text
from espnet_codec_lm.utils.progress import progress

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000
SPLITS = ("train", "dev", "test")

# Speakers: accent x voice variant x pitch x rate, chosen to be audibly distinct.
EN_SPEAKERS: list[Voice] = [
    Voice("en-us+m1", 50, 170),
    Voice("en-us+f2", 60, 165),
    Voice("en-gb+m3", 45, 175),
    Voice("en-gb+f1", 65, 160),
    Voice("en-gb-scotland+m2", 40, 170),
    Voice("en-029+f3", 70, 180),
    Voice("en-gb-x-rp+m4", 55, 150),
    Voice("en-us-nyc+f4", 75, 185),
    Voice("en-gb-x-gbclan+m5", 35, 165),
    Voice("en-gb-x-gbcwmd+m6", 50, 190),
    Voice("en-us+m7", 30, 155),
    Voice("en-gb-scotland+f1", 80, 170),
]
ZH_SPEAKERS: list[Voice] = [
    Voice(f"{ZH_VOICE}+m1", 50, 165),
    Voice(f"{ZH_VOICE}+f2", 60, 160),
    Voice(f"{ZH_VOICE}+m3", 40, 175),
    Voice(f"{ZH_VOICE}+f1", 70, 150),
    Voice(f"{ZH_VOICE}+m2", 30, 160),
    Voice(f"{ZH_VOICE}+f3", 75, 170),
    Voice(f"{ZH_VOICE}+m4", 55, 185),
    Voice(f"{ZH_VOICE}+f4", 65, 155),
    Voice(f"{ZH_VOICE}+m5", 45, 145),
    Voice(f"{ZH_VOICE}+m6", 35, 180),
    Voice(f"{ZH_VOICE}+m7", 60, 170),
    Voice(f"{ZH_VOICE}+f5", 80, 165),
]
# The one S2ST target voice: plain cmn-latn-pinyin, not one of the source speakers.
TARGET_SPEAKER = "zhtgt"
TARGET_VOICE = Voice(ZH_VOICE, 50, 160)


@dataclass
class MiniCorpusConfig:
    """Size of the mini corpus. ``utts_per_speaker`` is per split, for every speaker."""

    n_en_speakers: int = 10
    n_zh_speakers: int = 10
    utts_per_speaker: dict[str, int] = field(
        default_factory=lambda: {"train": 60, "dev": 5, "test": 5}
    )
    n_general_text: int = 4000  # per language
    n_mt_pairs: int = 4000
    n_heldout_text: int = 300  # per language
    seed: int = 0


SIZES: dict[str, MiniCorpusConfig] = {
    "tiny": MiniCorpusConfig(
        n_en_speakers=8,
        n_zh_speakers=8,
        utts_per_speaker={"train": 4, "dev": 2, "test": 2},
        n_general_text=200,
        n_mt_pairs=200,
        n_heldout_text=50,
    ),
    "default": MiniCorpusConfig(),
    "large": MiniCorpusConfig(
        n_en_speakers=12,
        n_zh_speakers=12,
        utts_per_speaker={"train": 250, "dev": 10, "test": 10},
        n_general_text=20000,
        n_mt_pairs=20000,
        n_heldout_text=1000,
    ),
}


@dataclass(frozen=True)
class Utterance:
    """One planned utterance (everything but the audio)."""

    utt_id: str
    split: str
    spk: str
    lang: str
    voice: Voice
    pair: SentencePair

    @property
    def text(self) -> str:
        return self.pair.en if self.lang == "en" else self.pair.zh

    @property
    def translation(self) -> tuple[str, str]:
        """(target language, translated text)."""
        return ("zh", self.pair.zh) if self.lang == "en" else ("en", self.pair.en)


def speakers(cfg: MiniCorpusConfig) -> dict[str, tuple[str, Voice]]:
    """Speaker id -> (language, voice)."""
    if not 1 <= cfg.n_en_speakers <= len(EN_SPEAKERS):
        raise ValueError(f"n_en_speakers must be in [1, {len(EN_SPEAKERS)}]")
    if not 1 <= cfg.n_zh_speakers <= len(ZH_SPEAKERS):
        raise ValueError(f"n_zh_speakers must be in [1, {len(ZH_SPEAKERS)}]")
    spk = {f"en{i + 1:02d}": ("en", v) for i, v in enumerate(EN_SPEAKERS[: cfg.n_en_speakers])}
    spk.update(
        {f"zh{i + 1:02d}": ("zh", v) for i, v in enumerate(ZH_SPEAKERS[: cfg.n_zh_speakers])}
    )
    return spk


def plan(cfg: MiniCorpusConfig) -> tuple[list[Utterance], dict[str, list]]:
    """All utterances and text pools, drawn from ``cfg.seed``; no audio is made here."""
    rng = np.random.default_rng(cfg.seed)
    spk = speakers(cfg)
    n_utts = {s: cfg.utts_per_speaker.get(s, 0) * len(spk) for s in SPLITS}
    n_pool = 2 * cfg.n_general_text + cfg.n_mt_pairs + 2 * cfg.n_heldout_text
    pairs = sample_unique_pairs(sum(n_utts.values()) + n_pool, rng)
    pos = 0
    utts: list[Utterance] = []
    # test first, so that a bigger train set never changes the test sentences of a seed
    for split in ("test", "dev", "train"):
        order = [s for s in spk for _ in range(cfg.utts_per_speaker.get(split, 0))]
        for s in order:
            lang, voice = spk[s]
            utts.append(Utterance(f"{s}-{split}{pos:06d}", split, s, lang, voice, pairs[pos]))
            pos += 1
    pools: dict[str, list] = {}
    for name, n in (
        ("general.en", cfg.n_general_text),
        ("general.zh", cfg.n_general_text),
        ("mt.en-zh.tsv", cfg.n_mt_pairs),
        ("heldout.en", cfg.n_heldout_text),
        ("heldout.zh", cfg.n_heldout_text),
    ):
        pools[name] = pairs[pos : pos + n]
        pos += n
    return utts, pools


def _config_hash(cfg: MiniCorpusConfig) -> str:
    blob = json.dumps(asdict(cfg), sort_keys=True) + repr(EN_SPEAKERS + ZH_SPEAKERS)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _write_wav(path: Path, text: str, lang: str, voice: Voice) -> float:
    """Synthesize into ``path`` (skipped when it exists: reruns resume); returns seconds."""
    import soundfile as sf

    if path.is_file():
        return sf.info(str(path)).frames / SAMPLE_RATE
    wav = synthesize(text, lang, voice, SAMPLE_RATE)
    with atomic_path(path) as tmp:
        sf.write(str(tmp), wav, SAMPLE_RATE, subtype="PCM_16", format="WAV")
    return len(wav) / SAMPLE_RATE


_EN_WORD = re.compile(r"[a-z']+")


def _vocab(sentences: list[str], lang: str) -> set[str]:
    """Word types (English, lower-cased) or character types (Mandarin, Han only)."""
    out: set[str] = set()
    for s in sentences:
        if lang == "en":
            out.update(_EN_WORD.findall(s.lower()))
        else:
            out.update(ch for ch in s if count_han(ch))
    return out


def generate(out: str | Path, cfg: MiniCorpusConfig, nj: int = 2) -> dict:
    """Write the corpus under ``out`` and return its statistics (also in ``stats.yaml``)."""
    import yaml

    out = Path(out).resolve()
    done = out / ".done"
    key = _config_hash(cfg)
    if done.is_file() and done.read_text().strip() == key:
        log.info("%s: already generated with this configuration; skipping", out)
        return yaml.safe_load((out / "stats.yaml").read_text(encoding="utf-8"))
    t0 = time.time()
    utts, pools = plan(cfg)
    jobs: list[tuple[Path, str, str, Voice]] = []
    for u in utts:
        jobs.append((out / "wav" / u.split / f"{u.utt_id}.wav", u.text, u.lang, u.voice))
        if u.lang == "en":
            jobs.append(
                (out / "wav_tgt" / u.split / f"{u.utt_id}.wav", u.pair.zh, "zh", TARGET_VOICE)
            )
    # espeak runs as a subprocess, so threads are enough to keep nj cores busy
    with ThreadPoolExecutor(max_workers=max(1, nj)) as ex:
        futs = ex.map(lambda j: _write_wav(*j), jobs)
        durs = list(progress(futs, desc="synthesize", total=len(jobs)))
    dur = {str(j[0]): d for j, d in zip(jobs, durs)}

    for split in SPLITS:
        su = [u for u in utts if u.split == split]
        wav = {u.utt_id: out / "wav" / split / f"{u.utt_id}.wav" for u in su}
        tgt = {u.utt_id: out / "wav_tgt" / split / f"{u.utt_id}.wav" for u in su if u.lang == "en"}
        dd = DataDir(
            wav_scp={k: str(v) for k, v in wav.items()},
            utt2spk={u.utt_id: u.spk for u in su},
            text={u.utt_id: u.text for u in su},
            utt2lang={u.utt_id: u.lang for u in su},
            translations={
                lang: {u.utt_id: u.translation[1] for u in su if u.translation[0] == lang}
                for lang in ("en", "zh")
            },
            wav_tgt={k: str(v) for k, v in tgt.items()},
            utt2dur={k: dur[str(v)] for k, v in wav.items()},
        )
        write_data_dir(dd, out / split, overwrite=True)

    pool_dir = out / "text_pool"
    for name, pairs in pools.items():
        if name == "mt.en-zh.tsv":
            lines = [f"{p.en}\t{p.zh}" for p in pairs]
        else:
            lines = [p.en if name.endswith(".en") else p.zh for p in pairs]
        atomic_write_text(pool_dir / name, "".join(line + "\n" for line in lines))

    spk = speakers(cfg)
    rows = ["speaker\tlang\tvoice\tpitch\trate"]
    rows += [f"{s}\t{lang}\t{v.voice}\t{v.pitch}\t{v.rate}" for s, (lang, v) in spk.items()]
    rows.append(
        f"{TARGET_SPEAKER}\tzh\t{TARGET_VOICE.voice}\t{TARGET_VOICE.pitch}\t{TARGET_VOICE.rate}"
    )
    atomic_write_text(out / "speakers.tsv", "\n".join(rows) + "\n")

    stats = corpus_stats(utts, pools, dur, out)
    stats["generation_seconds"] = round(time.time() - t0, 1)
    stats["nj"] = nj
    stats["config"] = asdict(cfg)
    atomic_write_text(
        out / "stats.yaml", yaml.safe_dump(stats, sort_keys=False, allow_unicode=True)
    )
    atomic_write_text(done, key + "\n")
    return stats


def corpus_stats(
    utts: list[Utterance], pools: dict[str, list], dur: dict[str, float], out: Path
) -> dict:
    """Utterances, hours, speakers and vocabulary sizes per split and language."""
    stats: dict = {"splits": {}}
    for split in SPLITS:
        entry: dict = {}
        for lang in ("en", "zh"):
            su = [u for u in utts if u.split == split and u.lang == lang]
            secs = sum(dur[str(out / "wav" / split / f"{u.utt_id}.wav")] for u in su)
            entry[lang] = {
                "utterances": len(su),
                "hours": round(secs / 3600, 3),
                "speakers": len({u.spk for u in su}),
                "vocabulary": len(_vocab([u.text for u in su], lang)),
            }
        tgt = [u for u in utts if u.split == split and u.lang == "en"]
        entry["s2st_target_hours"] = round(
            sum(dur[str(out / "wav_tgt" / split / f"{u.utt_id}.wav")] for u in tgt) / 3600, 3
        )
        stats["splits"][split] = entry
    stats["total_hours"] = round(sum(dur.values()) / 3600, 3)
    stats["text_pool"] = {name: len(p) for name, p in pools.items()}
    all_en = [u.pair.en for u in utts] + [p.en for ps in pools.values() for p in ps]
    all_zh = [u.pair.zh for u in utts] + [p.zh for ps in pools.values() for p in ps]
    stats["vocabulary_all_text"] = {
        "en_words": len(_vocab(all_en, "en")),
        "zh_chars": len(_vocab(all_zh, "zh")),
    }
    return stats
