"""GigaST (EN->ZH S2TT) and GigaS2S (EN->ZH S2ST) on GigaSpeech audio.

Three releases are joined on the GigaSpeech segment id (``sid``). Layout read (defaults; every
location can be set in the options)::

    <src>/GigaSpeech/GigaSpeech.json + audio/...      GigaSpeech (see gigaspeech.py)
    <src>/GigaST/GigaST.zh.json                       GigaST EN-ZH (``GigaST.zh.json``, ``GigaST.zh.cn.json``
                                                      or the same name directly under ``src``)
        {"audios": [{"segments": [{"sid": ..., "text_raw": "<Mandarin>",
                                   "extra": {"alignment_score": 8.21}}, ...]}, ...]}
    <src>/GigaS2S/EN2ZH/train.tsv                     GigaS2S: id<TAB>src_text<TAB>tgt_text (header)
    <src>/GigaS2S/EN2ZH/ZH/**/<sid>.wav or <sid>_ZH.wav   target speech (the split train.tar.gz,
                                                      unpacked; one synthetic Mandarin voice)

What is assumed (the releases document little beyond this): GigaST's JSON holds the machine-
translated training segments and the human-translated ``{TEST}`` segments, keyed by GigaSpeech
``sid``; GigaS2S covers training segments only (its README lists ``train.tsv`` and train archives),
and its ``tgt_text`` is what the target audio says, so it is preferred over GigaST's text for
those segments. S2ST is evaluated with ASR-BLEU against the text translation of ``{TEST}``, so
the test set needs no target audio.

Output: ``train`` (the GigaSpeech ``train_subset`` segments that have a translation), ``dev``
(``{DEV}`` segments with a translation; when GigaST has none, ``n_dev`` utterances of whole
training recordings are held out instead), ``test`` (``{TEST}``). Each has ``text`` (English),
``text.zh`` (the translation), ``utt2lang`` (``en``), ``segments``; ``train`` (and ``dev`` when held
out) has ``wav_tgt.scp`` for the segments with GigaS2S target speech.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from espnet_codec_lm.data.corpora.base import (
    load_options,
    need_dir,
    need_file,
    once,
    one_line,
    pick_subsets,
    prepare_subsets,
)
from espnet_codec_lm.data.corpora.gigaspeech import (
    TRAIN_SUBSETS,
    build_subset,
    iter_segments,
    load_json,
    subset_tag,
)
from espnet_codec_lm.data.data_dir import DataDir
from espnet_codec_lm.data.kaldi_io import DataDirError

log = logging.getLogger(__name__)

GIGAST_NAMES = ("GigaST.zh.json", "GigaST.zh.cn.json", "GigaST.zh-CN.json")


@dataclass
class GigaS2SOptions:
    """Where the three releases lie (relative paths are under ``src``) and what to keep."""

    gigaspeech_root: str = "GigaSpeech"
    gigast_json: str | None = None  # default: the first of GIGAST_NAMES under GigaST/ or src
    gigas2s_root: str = "GigaS2S/EN2ZH"
    train_subset: str = "XL"
    min_alignment_score: float = 0.0  # GigaST's MT quality estimate (0-10)
    n_dev: int = 300  # held-out utterances when GigaST has no {DEV} translations
    with_target_speech: bool = True


def _under(src: Path, p: str) -> Path:
    path = Path(p)
    return path if path.is_absolute() else src / path


def find_gigast(src: Path, opts: GigaS2SOptions) -> Path:
    """The GigaST EN-ZH JSON."""
    if opts.gigast_json:
        return need_file(_under(src, opts.gigast_json), "gigas2s")
    for d in (src / "GigaST", src):
        for name in GIGAST_NAMES:
            if (d / name).is_file():
                return d / name
    raise ValueError(f"gigas2s: no GigaST JSON ({' / '.join(GIGAST_NAMES)}) under {src}")


def read_gigast(path: Path, min_score: float) -> dict[str, str]:
    """sid -> Mandarin translation (segments under ``min_score`` are left out)."""
    out: dict[str, str] = {}
    low = 0
    for _, seg in iter_segments(load_json(path), path):
        sid, text = seg.get("sid"), one_line(seg.get("text_raw", "") or "")
        if not sid or not text:
            continue
        score = (seg.get("extra") or {}).get("alignment_score")
        if score is not None and float(score) < min_score:
            low += 1
            continue
        out[sid] = text
    if low:
        log.info("%s: %d segments below alignment score %.1f left out", path, low, min_score)
    return out


def read_gigas2s(root: Path) -> tuple[dict[str, str], dict[str, str]]:
    """``(sid -> target wav path, sid -> tgt_text)`` from the GigaS2S release (may be empty)."""
    if not root.is_dir():
        return {}, {}
    wavs: dict[str, str] = {}
    for wav in sorted(root.rglob("*.wav")):
        sid = wav.stem[:-3] if wav.stem.endswith("_ZH") else wav.stem
        wavs[sid] = str(wav.resolve())
    texts: dict[str, str] = {}
    tsv = root / "train.tsv"
    if tsv.is_file():
        with tsv.open(encoding="utf-8", newline="") as f:
            reader = csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
            if not {"id", "tgt_text"} <= set(reader.fieldnames or []):
                raise DataDirError(f"{tsv}: expected columns id, src_text, tgt_text")
            for r in reader:
                if r.get("id") and r.get("tgt_text"):
                    texts[r["id"]] = one_line(r["tgt_text"])
    return wavs, texts


def with_translation(dd: DataDir, zh: dict[str, str], tgt_wav: dict[str, str] | None) -> DataDir:
    """``dd`` restricted to translated segments, with ``text.zh`` (and ``wav_tgt.scp``)."""
    keep = [u for u in dd.utt_ids if u in zh]
    sub = dd.subset(keep)
    wav_tgt = {u: tgt_wav[u] for u in keep if u in tgt_wav} if tgt_wav else None
    return replace(sub, translations={"zh": {u: zh[u] for u in keep}}, wav_tgt=wav_tgt or None)


def hold_out(dd: DataDir, n: int) -> tuple[DataDir, DataDir]:
    """``(rest, held)``: whole recordings from the end of the sorted list until ``n`` utts."""
    by_rec: dict[str, list[str]] = {}
    for u in dd.utt_ids:
        by_rec.setdefault(dd.segments[u].recording, []).append(u)
    held: list[str] = []
    for rec in sorted(by_rec, reverse=True):
        if len(held) >= n or len(held) + len(by_rec[rec]) >= len(dd):
            break
        held += by_rec[rec]
    return dd.without(held), dd.subset(held)


def prepare_gigas2s(
    src: Path | None,
    out: Path,
    subsets: Sequence[str] | None = None,
    nj: int = 1,
    config: str | Path | None = None,
    overrides: Sequence[str] = (),
) -> dict[str, int]:
    """Write ``train`` / ``dev`` / ``test`` (S2TT everywhere, S2ST targets where released)."""
    opts = load_options(GigaS2SOptions, "gigas2s", config, overrides)
    if opts.train_subset not in TRAIN_SUBSETS:
        raise ValueError(f"gigas2s: train_subset must be one of {', '.join(TRAIN_SUBSETS)}")
    src = need_dir(src, "gigas2s")
    giga = need_dir(_under(src, opts.gigaspeech_root), "gigas2s", "GigaSpeech release")
    json_path = giga / "GigaSpeech.json"
    chosen = pick_subsets("gigas2s", subsets, ("train", "dev", "test"), ("train", "dev", "test"))
    cache: dict = {}

    @once
    def load():
        if not cache:
            cache["meta"] = load_json(json_path)
            cache["zh"] = read_gigast(find_gigast(src, opts), opts.min_alignment_score)
            wavs, texts = (
                read_gigas2s(_under(src, opts.gigas2s_root))
                if opts.with_target_speech
                else ({}, {})
            )
            cache["tgt_wav"] = wavs
            cache["zh_s2s"] = {**cache["zh"], **{k: v for k, v in texts.items() if k in wavs}}
            train = build_subset(
                giga, cache["meta"], json_path, subset_tag("train", opts.train_subset)
            )
            train = with_translation(train, cache["zh_s2s"], wavs)
            dev = build_subset(giga, cache["meta"], json_path, "{DEV}")
            dev = with_translation(dev, cache["zh"], None)
            if len(dev) == 0:
                log.info("gigas2s: no {DEV} translations; holding out %d training utts", opts.n_dev)
                train, dev = hold_out(train, opts.n_dev)
            cache["train"], cache["dev"] = train, dev
        return cache

    def build(subset: str) -> DataDir:
        c = load()
        if subset == "test":
            test = build_subset(giga, c["meta"], json_path, "{TEST}")
            dd = with_translation(test, c["zh"], None)
        else:
            dd = c[subset]
        if len(dd) == 0:
            raise DataDirError(f"gigas2s: no translated segment for subset '{subset}'")
        n_tgt = len(dd.wav_tgt or {})
        log.info("gigas2s %s: %d utterances, %d with target speech", subset, len(dd), n_tgt)
        return dd

    return prepare_subsets("gigas2s", src, out, {s: s for s in chosen}, opts, build, nj)
