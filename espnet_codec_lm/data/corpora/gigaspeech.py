"""GigaSpeech (English, 10k h) as released: one JSON of recordings and segments, Opus audio.

Layout read (``src`` is the GigaSpeech release directory, after decrypting the audio)::

    <src>/GigaSpeech.json
        {"audios": [{"aid": "POD0000000001", "path": "audio/podcast/P0001/POD0000000001.opus",
                     "subsets": ["{XL}", "{L}"], "segments": [{"sid": "POD0000000001_S0000008",
                     "begin_time": 159.0, "end_time": 167.52, "text_tn": "DOUGLAS MCGRAY WILL BE
                     OUR GUIDE <COMMA> ...", "subsets": ["{XL}", "{L}"]}, ...]}, ...]}
    <src>/audio/{podcast,youtube,audiobook}/P<nnnn>/<aid>.opus

Output ``train`` (segments of the ``train_subset``, ``XL`` by default), ``dev`` (``{DEV}``), ``test``
(``{TEST}``): ``wav.scp`` per recording, ``segments``, ``utt2spk`` (the recording: GigaSpeech has no
speaker labels, as in Kaldi's recipe), ``text``, ``utt2lang`` (``en``). ``text_tn`` is turned into
normal text: punctuation tags become marks (``<COMMA>`` -> ``,``), garbage tags (``<SIL>``, ``<MUSIC>``,
``<NOISE>``, ``<OTHER>``) are removed (a segment left empty is dropped: it is not speech), the
upper case becomes sentence case.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from espnet_codec_lm.data.corpora.base import (
    load_options,
    need_dir,
    need_file,
    once,
    pick_subsets,
    prepare_subsets,
)
from espnet_codec_lm.data.data_dir import DataDir, Segment
from espnet_codec_lm.data.kaldi_io import DataDirError

log = logging.getLogger(__name__)

PUNCT_TAGS = {"<COMMA>": ",", "<PERIOD>": ".", "<QUESTIONMARK>": "?", "<EXCLAMATIONPOINT>": "!"}
GARBAGE_TAGS = ("<SIL>", "<MUSIC>", "<NOISE>", "<OTHER>")
TRAIN_SUBSETS = ("XS", "S", "M", "L", "XL")
_SENT_START = re.compile(r"(^|[.?!]\s+)([a-z])")


def normalize_text_tn(text: str) -> str:
    """GigaSpeech ``text_tn`` -> sentence-case text with punctuation ('' for non-speech)."""
    words = []
    for w in text.split():
        if w in GARBAGE_TAGS:
            continue
        if w in PUNCT_TAGS:
            if words:
                words[-1] += PUNCT_TAGS[w]
            continue
        words.append(w.lower())
    out = " ".join(words)
    out = _SENT_START.sub(lambda m: m.group(1) + m.group(2).upper(), out)
    return re.sub(r"\bi\b", "I", out)


def load_json(path: Path) -> dict:
    """A release JSON (one-line error when malformed)."""
    need_file(path, "gigaspeech")
    try:
        with path.open(encoding="utf-8") as f:
            return json.load(f)
    except json.JSONDecodeError as e:
        raise DataDirError(f"{path}: line {e.lineno}: malformed JSON: {e.msg}") from None


def iter_segments(meta: dict, path: Path) -> Iterator[tuple[dict, dict]]:
    """``(audio, segment)`` pairs of a GigaSpeech-format JSON."""
    audios = meta.get("audios")
    if not isinstance(audios, list):
        raise DataDirError(f"{path}: no 'audios' list")
    for audio in audios:
        for seg in audio.get("segments", []):
            yield audio, seg


@dataclass
class GigaSpeechOptions:
    """Which training subset becomes ``train``."""

    train_subset: str = "XL"


def subset_tag(subset: str, train_subset: str) -> str:
    """The JSON tag selecting one of our subsets: ``train`` -> ``{XL}``, ``dev`` -> ``{DEV}``."""
    return f"{{{train_subset}}}" if subset == "train" else f"{{{subset.upper()}}}"


def build_subset(root: Path, meta: dict, json_path: Path, tag: str, lang: str = "en") -> DataDir:
    """Segments carrying ``tag`` as a data dir with ``segments`` (text normalised)."""
    wav_scp, segments, utt2spk, text = {}, {}, {}, {}
    dropped = 0
    for audio, seg in iter_segments(meta, json_path):
        if tag not in seg.get("subsets", audio.get("subsets", [])):
            continue
        sid, aid = seg["sid"], audio["aid"]
        t = normalize_text_tn(seg.get("text_tn", ""))
        if not t:
            dropped += 1
            continue
        if sid in utt2spk:
            raise DataDirError(f"{json_path}: segment '{sid}': duplicate id")
        if aid not in wav_scp:
            path = root / audio["path"]
            if not path.is_file():
                raise DataDirError(f"{json_path}: recording '{aid}': audio {path} not found")
            wav_scp[aid] = str(path.resolve())
        segments[sid] = Segment(aid, float(seg["begin_time"]), float(seg["end_time"]))
        utt2spk[sid] = aid
        text[sid] = t
    if dropped:
        log.info("%s %s: dropped %d non-speech segments", json_path.name, tag, dropped)
    return DataDir(
        wav_scp=wav_scp,
        utt2spk=utt2spk,
        text=text,
        segments=segments,
        utt2lang=dict.fromkeys(utt2spk, lang),
    )


def find_root(src: Path) -> Path:
    """The release directory (``src`` or ``src/GigaSpeech``)."""
    src = need_dir(src, "gigaspeech")
    return src / "GigaSpeech" if (src / "GigaSpeech" / "GigaSpeech.json").is_file() else src


def prepare_gigaspeech(
    src: Path | None,
    out: Path,
    subsets: Sequence[str] | None = None,
    nj: int = 1,
    config: str | Path | None = None,
    overrides: Sequence[str] = (),
) -> dict[str, int]:
    """Write ``train`` / ``dev`` / ``test``."""
    opts = load_options(GigaSpeechOptions, "gigaspeech", config, overrides)
    if opts.train_subset not in TRAIN_SUBSETS:
        raise ValueError(f"gigaspeech: train_subset must be one of {', '.join(TRAIN_SUBSETS)}")
    root = find_root(src)
    json_path = root / "GigaSpeech.json"
    chosen = pick_subsets("gigaspeech", subsets, ("train", "dev", "test"), ("train", "dev", "test"))
    meta = once(lambda: load_json(json_path))

    def build(subset: str) -> DataDir:
        tag = subset_tag(subset, opts.train_subset)
        dd = build_subset(root, meta(), json_path, tag)
        if len(dd) == 0:
            raise DataDirError(f"gigaspeech: {json_path}: no segment in subset {tag}")
        return dd

    return prepare_subsets("gigaspeech", root, out, {s: s for s in chosen}, opts, build, nj)
