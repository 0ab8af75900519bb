"""Load Kaldi data directories, their codes and text pools into memory, tokenised once
(the codes themselves may stay on disk: :class:`LazyCodes`).

A speech set is a Kaldi data directory (``text``, ``utt2spk``, optional ``utt2lang``,
``text.<lang>``) plus the codes the tokenize stage wrote (``codes.scp``; ``codes_tgt.scp`` for
S2ST). A text pool is a Kaldi ``text`` file or a directory holding one (``utt2lang`` and
``text.<lang>`` make it an MT pool). Transcripts pass through the punctuation hook (sets marked
``punctuate: true``), missing translations through the translation hook, and every text is
tokenised here, once, so building a sequence is array slicing.
"""

from __future__ import annotations

import itertools
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from espnet_codec_lm.config import ConfigError, read_yaml
from espnet_codec_lm.data.kaldi_io import num_frames_path, read_table
from espnet_codec_lm.lm.vocab import VocabLayout
from espnet_codec_lm.tasks.prompts import LANGS
from espnet_codec_lm.tasks.sequence import Sample

log = logging.getLogger("tasks")
_CJK = re.compile(r"[\u4e00-\u9fff]")


@dataclass
class SpeechSetConfig:
    """One speech set: a Kaldi data directory and its codes."""

    data_dir: str
    codes: str  # codes.scp written by the tokenize stage
    codes_tgt: str | None = None  # codes_tgt.scp (S2ST target speech)
    punctuate: bool = False  # restore punctuation of this set's transcripts (hook)


def detect_lang(text: str) -> str:
    """``zh`` if the text has Chinese characters, else ``en`` (used when there is no utt2lang)."""
    return "zh" if _CJK.search(text) else "en"


def _other(lang: str) -> str:
    others = [x for x in LANGS if x != lang]
    return others[0] if others else lang


class Corpus:
    """Samples in a fixed (sorted-id) order, with per-task eligibility and speaker index."""

    def __init__(self, samples: list[Sample], name: str = "") -> None:
        self.samples = samples
        self.name = name
        self.speakers: dict[str, np.ndarray] = {}
        by_spk: dict[str, list[int]] = {}
        for i, s in enumerate(samples):
            if s.speaker is not None:
                by_spk.setdefault(s.speaker, []).append(i)
        self.speakers = {k: np.asarray(v) for k, v in by_spk.items()}
        self._eligible: dict[tuple, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.samples)

    def eligible(self, requires: tuple[str, ...]) -> np.ndarray:
        """Indices of samples that have every field in ``requires``."""
        if requires not in self._eligible:
            fields = {
                "codes": lambda s: s.codes is not None and len(s.codes) > 0,
                "text": lambda s: s.text_ids is not None and len(s.text_ids) > 0,
                "translation": lambda s: (
                    s.translation_ids is not None and len(s.translation_ids) > 0
                ),
                "codes_tgt": lambda s: s.codes_tgt is not None and len(s.codes_tgt) > 0,
            }
            keep = [i for i, s in enumerate(self.samples) if all(fields[r](s) for r in requires)]
            self._eligible[requires] = np.asarray(keep, dtype=np.int64)
        return self._eligible[requires]


def _checked_codes(arr, where: str, num_streams: int, codebook_size: int, frames=None):
    """``arr`` as a contiguous ``[T, num_streams]`` array of codec-local codes, or a one-line
    ``ValueError`` starting with ``where`` (wrong shape, ``T != frames``, codes out of range)."""
    arr = np.asarray(arr)
    if (
        arr.ndim != 2
        or arr.shape[1] < num_streams
        or (frames is not None and arr.shape[0] != frames)
    ):
        want = f"[{'T' if frames is None else frames}, >={num_streams}]"
        stale = "" if frames is None else " (stale .num_frames?)"
        raise ValueError(f"{where}: codes must be {want}, got {arr.shape}{stale}")
    arr = arr[:, :num_streams]
    if arr.size and (arr.min() < 0 or arr.max() >= codebook_size):
        raise ValueError(f"{where}: codes outside [0, {codebook_size})")
    return np.ascontiguousarray(arr)


class LazyCodes:
    """The codes of one utterance left in their ark until a sequence is built from them.

    ``len()``, ``shape`` and ``ndim`` come from the tokenize stage's ``<name>.num_frames`` (no
    read); ``np.asarray(codes)``, indexing and slicing read the entry (``kaldiio.load_mat`` of
    ``path:offset``) and check it. Speech sets hold these with ``data.codes_in_memory: false``:
    the memory of a corpus is then its index, not its codes (at the paper's ~70k hours, 3 int16
    codebooks at 50 Hz would be ~75 GB per process).
    """

    __slots__ = ("spec", "num_frames", "num_streams", "codebook_size", "uttid")
    ndim = 2

    def __init__(
        self, spec: str, num_frames: int, num_streams: int, codebook_size: int, uttid: str
    ):
        self.spec, self.num_frames, self.uttid = spec, int(num_frames), uttid
        self.num_streams, self.codebook_size = num_streams, codebook_size

    def __len__(self) -> int:
        return self.num_frames

    @property
    def shape(self) -> tuple[int, int]:
        return (self.num_frames, self.num_streams)

    def load(self) -> np.ndarray:
        """``[T, L']`` codec-local codes, read now."""
        import kaldiio

        try:
            arr = np.asarray(kaldiio.load_mat(self.spec))
        except Exception as e:
            msg = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise ValueError(
                f"{self.spec}: utterance {self.uttid}: cannot read codes ({msg})"
            ) from None
        where = f"{self.spec}: utterance {self.uttid}"
        return _checked_codes(arr, where, self.num_streams, self.codebook_size, self.num_frames)

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        arr = self.load()
        return arr if dtype is None else arr.astype(dtype)

    def __getitem__(self, key) -> np.ndarray:
        return self.load()[key]

    def __repr__(self) -> str:
        return f"LazyCodes({self.spec!r}, {self.num_frames} frames)"


def _lazy_codes(scp: str, layout: VocabLayout) -> dict[str, LazyCodes]:
    """The index of a codes list: ``utt -> LazyCodes`` (frames from ``<name>.num_frames``; when
    that file is missing, each entry is read once for its length and not kept)."""
    scp_path = Path(scp)
    if not scp_path.is_file():
        raise ValueError(f"{scp}: codes file not found")
    specs = read_table(scp_path)
    nf_path = num_frames_path(scp_path)
    if nf_path.is_file():
        frames = read_table(nf_path)
        missing = sorted(set(specs) - set(frames))
        if missing:
            raise ValueError(
                f"{nf_path}: no frame count for utterance {missing[0]} (rerun tokenize)"
            )
    else:
        log.warning("%s missing: reading every entry of %s once for its length", nf_path, scp)
        frames = {u: int(arr.shape[0]) for u, arr in _load_codes(scp, layout, None).items()}
    L, C = layout.num_streams, layout.codebook_size
    out = {}
    for utt, spec in specs.items():
        try:
            T = int(frames[utt])
        except ValueError:
            raise ValueError(
                f"{nf_path}: utterance {utt}: not a frame count: {frames[utt]!r}"
            ) from None
        out[utt] = LazyCodes(spec, T, L, C, utt)
    return out


def iter_codes(scp: str):
    """``(uttid, array)`` for each entry of a codes list, in its order, read sequentially (one
    entry in memory at a time); a missing list or a torn / missing ark is a one-line
    ``ValueError`` naming the list, the line and the utterance."""
    import kaldiio

    if not Path(scp).is_file():
        raise ValueError(f"{scp}: codes file not found")
    entries = kaldiio.load_scp_sequential(scp)
    for n in itertools.count(1):
        try:
            uttid, arr = next(entries)
        except StopIteration:
            break
        except Exception as e:  # a torn or missing ark: kaldiio's message names neither
            line = Path(scp).read_text(encoding="utf-8").splitlines()[n - 1 : n] or ["?"]
            msg = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise ValueError(
                f"{scp}:{n}: utterance {line[0].split()[0]}: cannot read codes ({msg})"
            ) from None
        yield uttid, arr


def _load_codes(scp: str, layout: VocabLayout, ids: set[str] | None) -> dict[str, np.ndarray]:
    out = {}
    for uttid, arr in iter_codes(scp):
        if ids is not None and uttid not in ids:
            continue
        where = f"{scp}: utterance {uttid}"
        out[uttid] = _checked_codes(arr, where, layout.num_streams, layout.codebook_size)
    return out


def _encode(tokenizer, text: str) -> np.ndarray:
    return np.asarray(tokenizer.encode(text), dtype=np.int64)


def _fill_translations(samples: list[Sample], translate: Callable, tokenizer) -> int:
    """Translate, with the hook, every sample that has a text but no translation."""
    todo: dict[tuple[str, str], list[Sample]] = {}
    for s in samples:
        if s.text and not s.translation:
            todo.setdefault((s.lang, _other(s.lang)), []).append(s)
    n = 0
    for (src, tgt), group in todo.items():
        outs = translate([s.text for s in group], src, tgt)
        for s, t in zip(group, outs):
            if t:
                s.translation, s.tgt_lang = t, tgt
                s.translation_ids = _encode(tokenizer, t)
                n += 1
    return n


def check_codes_provenance(scp: str | Path, layout: VocabLayout) -> dict | None:
    """The ``<name>.yaml`` that ``codec_tokenize`` writes beside ``<name>.scp`` (``None`` for
    codes without one); codes of a codec whose codebook size differs from the LM vocabulary's,
    or with fewer codebooks than its streams, are a one-line error naming that file."""
    p = Path(scp).with_suffix(".yaml")
    if Path(scp).suffix != ".scp" or not p.is_file():
        return None
    try:
        prov = read_yaml(p)
        size, n_q = int(prov["codebook_size"]), int(prov["n_q"])
    except (ConfigError, KeyError, TypeError, ValueError) as e:
        raise ValueError(f"{p}: not a codes provenance file ({e})") from None
    if size != layout.codebook_size or n_q < layout.num_streams:
        raise ValueError(
            f"{p}: codes of {n_q} codebooks x {size} codes, the LM vocabulary has "
            f"{layout.num_streams} streams x {layout.codebook_size} codes"
        )
    return prov


def load_speech_set(
    cfg: SpeechSetConfig,
    layout: VocabLayout,
    tokenizer,
    punctuate: Callable | None = None,
    translate: Callable | None = None,
    in_memory: bool = True,
) -> list[Sample]:
    """All utterances of one speech set that have codes, tokenised; ``in_memory=False`` keeps
    each utterance's codes in their ark (:class:`LazyCodes`) until used."""
    d = Path(cfg.data_dir)
    tables = SpeechSetTables.read(d)
    for scp in (cfg.codes, cfg.codes_tgt):
        if scp:
            check_codes_provenance(scp, layout)
    load = _load_codes if in_memory else (lambda scp, lay, ids: _lazy_codes(scp, lay))
    codes = load(cfg.codes, layout, None)
    codes_tgt = load(cfg.codes_tgt, layout, None) if cfg.codes_tgt else {}
    missing = sorted(set(tables.texts) - set(codes))
    if missing:
        log.warning(
            "%s: %d utterances have no codes (skipped), e.g. %s", d, len(missing), missing[0]
        )
    samples = [tables.sample(uttid, codes[uttid], codes_tgt.get(uttid)) for uttid in sorted(codes)]
    finish_speech_samples(samples, tokenizer, punctuate if cfg.punctuate else None, translate)
    return samples


@dataclass
class SpeechSetTables:
    """The per-utterance tables of a Kaldi speech set: transcripts, speakers, languages and the
    translations (``text.<lang>``)."""

    texts: dict[str, str]
    utt2spk: dict[str, str]
    utt2lang: dict[str, str]
    trans: dict[str, dict[str, str]]

    @classmethod
    def read(cls, d: str | Path) -> SpeechSetTables:
        d = Path(d)
        if not d.is_dir():
            raise ValueError(f"{d}: data directory not found")

        def table(name: str) -> dict[str, str]:
            return read_table(d / name) if (d / name).is_file() else {}

        trans = {p.name.split(".", 1)[1]: read_table(p) for p in sorted(d.glob("text.*"))}
        return cls(table("text"), table("utt2spk"), table("utt2lang"), trans)

    def sample(self, uttid: str, codes, codes_tgt=None) -> Sample:
        """The untokenised :class:`Sample` of ``uttid``: its language (``utt2lang``, else
        detected), transcript, speaker, the first translation into another language and the
        target speech (whose language, without a translation, is the other one)."""
        text = self.texts.get(uttid)
        lang = self.utt2lang.get(uttid) or detect_lang(text or "")
        s = Sample(uttid=uttid, lang=lang, codes=codes, text=text, speaker=self.utt2spk.get(uttid))
        for tl, m in self.trans.items():
            if tl != lang and uttid in m:
                s.translation, s.tgt_lang = m[uttid], tl
                break
        if codes_tgt is not None:
            s.codes_tgt = codes_tgt
            s.tgt_lang = s.tgt_lang or _other(lang)
        return s


def finish_speech_samples(
    samples: list[Sample],
    tokenizer,
    punctuate: Callable | None = None,
    translate: Callable | None = None,
) -> None:
    """In place: transcripts through the punctuation hook (when given), every text tokenised,
    then missing translations through the translation hook (when given)."""
    if punctuate is not None:
        for lang in LANGS:
            group = [s for s in samples if s.text and s.lang == lang]
            for s, t in zip(group, punctuate([s.text for s in group], lang)):
                s.text = t
    for s in samples:
        if s.text:
            s.text_ids = _encode(tokenizer, s.text)
        if s.translation:
            s.translation_ids = _encode(tokenizer, s.translation)
    if translate is not None:
        _fill_translations(samples, translate, tokenizer)


def _plain_lines(path: Path) -> list[str]:
    try:
        return [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not valid UTF-8") from None


def load_text_pool(path: str | Path, tokenizer, translate: Callable | None = None) -> list[Sample]:
    """A general-text or MT pool, in any of these forms:

    - a Kaldi-style directory: ``text`` (+ ``utt2lang``; ``text.<lang>`` makes MT pairs);
    - a file ``<name>.<src>-<tgt>.tsv``: MT pairs, ``source<TAB>target`` a line;
    - a file named ``text``: Kaldi ``id sentence`` lines;
    - any other file: one sentence a line (language from a ``.en`` / ``.zh`` suffix, else
      detected), ids ``<file name>-<line number>``.
    """
    path = Path(path)
    if not path.exists():
        raise ValueError(f"{path}: text pool not found")
    samples: list[Sample] = []
    if path.is_file() and path.suffix == ".tsv":
        m = re.search(r"\.([a-z]+)-([a-z]+)\.tsv$", path.name)
        for n, line in enumerate(_plain_lines(path), 1):
            cols = line.split("\t")
            if len(cols) != 2 or not cols[0].strip() or not cols[1].strip():
                raise ValueError(f"{path}:{n}: expected 'source<TAB>target'")
            src, tgt = (
                (m.group(1), m.group(2)) if m else (detect_lang(cols[0]), detect_lang(cols[1]))
            )
            samples.append(
                Sample(
                    uttid=f"{path.name}-{n:07d}",
                    lang=src,
                    text=cols[0].strip(),
                    translation=cols[1].strip(),
                    tgt_lang=tgt,
                )
            )
    elif path.is_file() and path.name != "text":
        suffix = path.suffix.lstrip(".")
        for n, line in enumerate(_plain_lines(path), 1):
            lang = suffix if suffix in LANGS else detect_lang(line)
            samples.append(Sample(uttid=f"{path.name}-{n:07d}", lang=lang, text=line))
    else:
        d, text_file = (path, path / "text") if path.is_dir() else (path.parent, path)
        texts = read_table(text_file)
        has_meta = path.is_dir()
        utt2lang = read_table(d / "utt2lang") if has_meta and (d / "utt2lang").is_file() else {}
        trans = {p.name.split(".", 1)[1]: read_table(p) for p in sorted(d.glob("text.*"))}
        for uttid in sorted(texts):
            lang = utt2lang.get(uttid) or detect_lang(texts[uttid])
            s = Sample(uttid=uttid, lang=lang, text=texts[uttid])
            for tl, m_ in trans.items() if has_meta else ():
                if tl != lang and uttid in m_:
                    s.translation, s.tgt_lang = m_[uttid], tl
                    break
            samples.append(s)
    for s in samples:
        s.text_ids = _encode(tokenizer, s.text)
        if s.translation:
            s.translation_ids = _encode(tokenizer, s.translation)
    if translate is not None:
        _fill_translations(samples, translate, tokenizer)
    return samples


def merge(samples_per_set: list[list[Sample]], name: str = "") -> Corpus:
    """One corpus from several sets; utterance ids must be unique across them."""
    seen: set[str] = set()
    out: list[Sample] = []
    for group in samples_per_set:
        for s in group:
            if s.uttid in seen:
                raise ValueError(f"{name or 'corpus'}: utterance id {s.uttid} appears in two sets")
            seen.add(s.uttid)
            out.append(s)
    return Corpus(out, name)
