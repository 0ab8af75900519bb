"""The continual pre-training speech mix (SPEC section 6): prepared corpora joined into one set.

``src`` holds one directory per corpus, each prepared by its own preparer
(``prepare_data --corpus librispeech --src $LIBRISPEECH --out data/librispeech`` ...). This
preparer joins the listed training (and validation) dirs into ``out/train`` and ``out/dev``:

- ids are prefixed with the corpus name (``librispeech-84-121123-0000``; recordings and speakers
  too) so corpora can never collide, and every utterance keeps its ``utt2lang``;
- transcripts of the corpora listed in ``punctuate`` (released without punctuation) go through
  the punctuation hook; SPEC: CPT text is punctuated;
- every utterance without a translation gets one from the machine-translation hook (``text.zh``
  for English speech, ``text.en`` for Mandarin), which the ASR/S2TT/T2ST tasks of CPT use. With
  the default ``identity`` hook nothing is translated and only utterances that came with a
  translation take part in the translation tasks;
- a corpus that was not prepared is left out with a warning (``allow_missing``), so the mix is
  whatever part of the paper's list the user has; ``mix_stats.yaml`` says what went in.

The paper's in-house data (70 k h Mandarin, translation data) and WSJ (LDC, shorten-compressed
SPHERE) have no preparer here; any Kaldi data dir placed under ``src/<name>/`` and listed in
``train`` joins the mix the same way.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from espnet_codec_lm.data.corpora.base import (
    DONE,
    apply_punctuation,
    apply_translation,
    fingerprint,
    is_done,
    load_options,
    need_dir,
    pick_subsets,
    write_subset,
)
from espnet_codec_lm.data.data_dir import DataDir, Segment, combine_data_dirs, read_data_dir
from espnet_codec_lm.data.hooks import HookConfig
from espnet_codec_lm.utils.fileio import atomic_write_text

log = logging.getLogger(__name__)

#: the paper's CPT speech corpora with our preparers, and their training dirs
DEFAULT_TRAIN = {
    "aishell1": ["train"],
    "aishell2": ["train"],
    "aishell3": ["train"],
    "wenetspeech": ["train"],
    "gigaspeech": ["train"],
    "librispeech": ["train_clean_100", "train_clean_360", "train_other_500"],
    "mls": ["train"],
    "tedlium3": ["train"],
    "commonvoice": ["train_en", "train_zh"],
}
DEFAULT_DEV = {"librispeech": ["dev_clean"], "aishell2": ["dev"]}
UNPUNCTUATED = ["librispeech", "mls", "tedlium3", "aishell1", "aishell2", "aishell3", "wenetspeech"]


@dataclass
class CptMixOptions:
    """What goes into the mix and the two text hooks."""

    train: dict[str, list[str]] = field(default_factory=lambda: dict(DEFAULT_TRAIN))
    dev: dict[str, list[str]] = field(default_factory=lambda: dict(DEFAULT_DEV))
    allow_missing: bool = True
    prefix_ids: bool = True
    punctuate: list[str] = field(default_factory=lambda: list(UNPUNCTUATED))
    punctuation: HookConfig = field(default_factory=HookConfig)
    translation: HookConfig = field(default_factory=HookConfig)


def prefixed(dd: DataDir, prefix: str) -> DataDir:
    """``dd`` with every utterance, recording and speaker id prefixed by ``prefix-``."""

    def p(x: str) -> str:
        return f"{prefix}-{x}"

    def keys(d):
        return None if d is None else {p(k): v for k, v in d.items()}

    return DataDir(
        wav_scp=keys(dd.wav_scp),
        utt2spk={p(u): p(s) for u, s in dd.utt2spk.items()},
        text=keys(dd.text),
        segments=None
        if dd.segments is None
        else {p(u): Segment(p(s.recording), s.start, s.end) for u, s in dd.segments.items()},
        utt2lang=keys(dd.utt2lang),
        translations={lang: keys(t) for lang, t in dd.translations.items()},
        wav_tgt=keys(dd.wav_tgt),
        utt2dur=keys(dd.utt2dur),
        extra={n: keys(t) for n, t in dd.extra.items()},
    )


def as_segments(dd: DataDir) -> DataDir:
    """Whole-file utterances as segments (``0 -1``), so they combine with segmented corpora."""
    if dd.segments is not None:
        return dd
    segs = {u: Segment(u, 0.0, -1.0) for u in dd.utt2spk}
    return replace(dd, segments=segs)


def translate_missing(dd: DataDir, hook: HookConfig) -> DataDir:
    """Fill ``text.<other language>`` with the MT hook where an utterance has none."""
    if hook.kind == "identity" or dd.text is None or dd.utt2lang is None:
        return dd
    translations = {lang: dict(t) for lang, t in dd.translations.items()}
    for src, tgt in (("en", "zh"), ("zh", "en")):
        have = translations.get(tgt, {})
        todo = {u: t for u, t in dd.text.items() if dd.utt2lang.get(u) == src and u not in have}
        new = apply_translation(todo, src, tgt, hook)
        log.info("cpt_mix: MT hook translated %d of %d %s->%s", len(new), len(todo), src, tgt)
        translations[tgt] = {**have, **new}
    return replace(dd, translations={k: v for k, v in translations.items() if v})


def load_component(root: Path, corpus: str, dirs: list[str], opts: CptMixOptions) -> DataDir:
    """One corpus's dirs, punctuated if listed, ids prefixed."""
    parts = []
    for d in dirs:
        dd = read_data_dir(root / corpus / d)
        if corpus in opts.punctuate and dd.text is not None and dd.utt2lang is not None:
            text = dict(dd.text)
            for lang in sorted(set(dd.utt2lang.values())):
                sub = {u: t for u, t in dd.text.items() if dd.utt2lang.get(u) == lang}
                text.update(apply_punctuation(sub, lang, opts.punctuation))
            dd = replace(dd, text=text)
        parts.append(prefixed(dd, corpus) if opts.prefix_ids else dd)
    return combine_data_dirs(parts) if len(parts) > 1 else parts[0]


def prepare_cpt_mix(
    src: Path | None,
    out: Path,
    subsets: Sequence[str] | None = None,
    nj: int = 1,
    config: str | Path | None = None,
    overrides: Sequence[str] = (),
) -> dict[str, int]:
    """Write ``out/train`` and ``out/dev`` (the sets that have at least one prepared part)."""
    import yaml

    opts = load_options(CptMixOptions, "cpt_mix", config, overrides)
    root = need_dir(src, "cpt_mix", "directory of prepared corpora")
    chosen = pick_subsets("cpt_mix", subsets, ("train", "dev"), ("train", "dev"))
    result: dict[str, int] = {}
    stats: dict = {}
    for name in chosen:
        listing = opts.train if name == "train" else opts.dev
        present, keys = {}, []
        for corpus, dirs in listing.items():
            missing = [d for d in dirs if not (root / corpus / d / DONE).is_file()]
            if missing:
                msg = f"cpt_mix {name}: {root / corpus / missing[0]} is not prepared"
                if not opts.allow_missing:
                    raise ValueError(msg)
                log.warning("%s; leaving %s out", msg, corpus)
                continue
            present[corpus] = dirs
            keys += [(root / corpus / d / DONE).read_text().strip() for d in dirs]
        if not present:
            raise ValueError(f"cpt_mix: no corpus of the {name} list is prepared under {root}")
        key = fingerprint("cpt_mix", root, opts, f"{name}:{','.join(keys)}")
        if is_done(out, name, key):
            log.info("%s/%s: already mixed; skipping", out, name)
            continue
        comps = {c: load_component(root, c, d, opts) for c, d in present.items()}
        if any(dd.segments is not None for dd in comps.values()):
            comps = {c: as_segments(dd) for c, dd in comps.items()}
        dd = translate_missing(combine_data_dirs(list(comps.values())), opts.translation)
        write_subset(dd, out, name, key)
        result[name] = len(dd)
        stats[name] = {
            c: {"utterances": len(d), "langs": sorted(set((d.utt2lang or {}).values()))}
            for c, d in comps.items()
        }
        stats[name]["translations"] = {lang: len(t) for lang, t in dd.translations.items()}
    if stats:
        text = yaml.safe_dump(stats, sort_keys=False, allow_unicode=True)
        atomic_write_text(Path(out) / "mix_stats.yaml", text)
    return result
