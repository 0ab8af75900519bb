"""A tiny synthetic corpus in the real on-disk layout, for tests and ``show_example --demo``.

Sentences come from the mini corpus' aligned grammar; "speech" is random codec codes whose
length follows the text (about 4 frames per English character, 12 per Mandarin character, as
espeak-ng speaks at 50 frames/s). Written like the real pipeline writes it::

    <out>/train/          text utt2spk spk2utt utt2lang text.zh (EN utts) text.en (ZH utts)
    <out>/codes/train/    codes.{ark,scp} [T, n_q] int16; codes_tgt.{ark,scp} for EN utts (S2ST)
    <out>/text_pool/      general.en general.zh mt.en-zh.tsv
    <out>/tokenizer/      sentencepiece BPE on all sentences + every prompt of the bank
    <out>/vocab_layout.json
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from espnet_codec_lm.data.grammar import sample_unique_pairs
from espnet_codec_lm.lm.tokenizer import train_sentencepiece
from espnet_codec_lm.lm.vocab import VocabLayout
from espnet_codec_lm.tasks.corpus import SpeechSetConfig
from espnet_codec_lm.tasks.dataset import DataConfig
from espnet_codec_lm.tasks.prompts import PromptBank
from espnet_codec_lm.utils.fileio import atomic_write_text


@dataclass
class SyntheticCorpus:
    """Paths of a synthetic corpus and the objects built from it."""

    root: Path
    layout: VocabLayout
    tokenizer: object

    def data_config(self, **overrides) -> DataConfig:
        """A :class:`DataConfig` over this corpus (speech set, general text and MT pools)."""
        cfg = DataConfig(
            speech_sets=[
                SpeechSetConfig(
                    data_dir=str(self.root / "train"),
                    codes=str(self.root / "codes/train/codes.scp"),
                    codes_tgt=str(self.root / "codes/train/codes_tgt.scp"),
                )
            ],
            text_pools=[
                str(self.root / "text_pool/general.en"),
                str(self.root / "text_pool/general.zh"),
            ],
            mt_pools=[str(self.root / "text_pool/mt.en-zh.tsv")],
        )
        for k, v in overrides.items():
            if not hasattr(cfg, k):
                raise ValueError(f"DataConfig has no field {k!r}")
            setattr(cfg, k, v)
        return cfg


def _frames(text: str, lang: str, rng: np.random.Generator) -> int:
    per_char = 12.0 if lang == "zh" else 4.0
    n = len(text.replace(" ", "")) * per_char
    return max(10, int(n * rng.uniform(0.85, 1.15)))


def make_synthetic_corpus(
    out: str | Path,
    speakers_per_lang: int = 3,
    utts_per_speaker: int = 8,
    n_text: int = 40,
    n_mt: int = 40,
    num_streams: int = 3,
    codebook_size: int = 1024,
    vocab_size: int = 1200,
    seed: int = 0,
) -> SyntheticCorpus:
    """Write a synthetic corpus under ``out`` and return its layout and tokenizer."""
    import kaldiio

    out = Path(out)
    rng = np.random.default_rng(seed)
    n_utts = 2 * speakers_per_lang * utts_per_speaker
    pairs = sample_unique_pairs(n_utts + 2 * n_text + n_mt, rng)
    utt_pairs, pool = pairs[:n_utts], pairs[n_utts:]

    text, utt2spk, utt2lang, tr_zh, tr_en = {}, {}, {}, {}, {}
    codes, codes_tgt = {}, {}
    k = 0
    for lang in ("en", "zh"):
        for s in range(speakers_per_lang):
            spk = f"{lang}spk{s}"
            for u in range(utts_per_speaker):
                pair = utt_pairs[k]
                k += 1
                uttid = f"{spk}-{u:03d}"
                src, tgt = (pair.en, pair.zh) if lang == "en" else (pair.zh, pair.en)
                text[uttid], utt2spk[uttid], utt2lang[uttid] = src, spk, lang
                (tr_zh if lang == "en" else tr_en)[uttid] = tgt
                shape = (_frames(src, lang, rng), num_streams)
                codes[uttid] = rng.integers(0, codebook_size, shape).astype(np.int16)
                if lang == "en":  # S2ST targets: Mandarin speech of the translation
                    shape = (_frames(tgt, "zh", rng), num_streams)
                    codes_tgt[uttid] = rng.integers(0, codebook_size, shape).astype(np.int16)

    def write_map(path: Path, m: dict[str, str]) -> None:
        atomic_write_text(path, "".join(f"{key} {m[key]}\n" for key in sorted(m)))

    d = out / "train"
    write_map(d / "text", text)
    write_map(d / "utt2spk", utt2spk)
    write_map(d / "utt2lang", utt2lang)
    write_map(d / "text.zh", tr_zh)
    write_map(d / "text.en", tr_en)
    spk2utt: dict[str, list[str]] = {}
    for u in sorted(utt2spk):
        spk2utt.setdefault(utt2spk[u], []).append(u)
    write_map(d / "spk2utt", {s: " ".join(us) for s, us in spk2utt.items()})
    cdir = out / "codes/train"
    cdir.mkdir(parents=True, exist_ok=True)
    for name, m in (("codes", codes), ("codes_tgt", codes_tgt)):
        # kaldiio writes int16 only in its NumPy ark format (the Kaldi matrix writer refuses it)
        spec = f"ark,scp:{cdir / name}.ark,{cdir / name}.scp"
        with kaldiio.WriteHelper(spec, write_function="numpy") as w:
            for key in sorted(m):
                w(key, m[key])

    pdir = out / "text_pool"
    gen_en, gen_zh, mt = pool[:n_text], pool[n_text : 2 * n_text], pool[2 * n_text :]
    atomic_write_text(pdir / "general.en", "".join(p.en + "\n" for p in gen_en))
    atomic_write_text(pdir / "general.zh", "".join(p.zh + "\n" for p in gen_zh))
    atomic_write_text(pdir / "mt.en-zh.tsv", "".join(f"{p.en}\t{p.zh}\n" for p in mt))

    sentences = [p.en for p in pairs] + [p.zh for p in pairs] + PromptBank.load().all_texts()
    tokenizer = train_sentencepiece(sentences, out / "tokenizer", vocab_size=vocab_size)
    layout = VocabLayout(
        text_vocab_size=tokenizer.vocab_size,
        text_rows=tokenizer.vocab_size,
        num_streams=num_streams,
        codebook_size=codebook_size,
    )
    layout.save(out / "vocab_layout.json")
    return SyntheticCorpus(out, layout, tokenizer)
