"""WenetSpeech (Mandarin, 10 k h) as released: one JSON of recordings and segments, Opus audio.

Layout read (``src`` is the release directory)::

    <src>/WenetSpeech.json
        {"audios": [{"aid": "Y0000000000_--5llN02F84",
                     "path": "audio/train/youtube/B00000/Y0000000000_--5llN02F84.opus",
                     "segments": [{"sid": "Y0000000000_--5llN02F84_S00000", "begin_time": 20.08,
                                   "end_time": 24.4, "text": "怎么样这些日子住得还习惯吧",
                                   "confidence": 1.0, "subsets": ["L", "M"]}, ...]}, ...]}
    <src>/audio/...

Output ``train`` (segments of ``train_subset``: ``S``, ``M`` or ``L``), ``dev`` (``DEV``),
``test_net`` / ``test_meeting``: ``wav.scp`` per recording, ``segments``, ``utt2spk`` (the recording;
no speaker labels), ``text`` (whitespace removed), ``utt2lang`` (``zh``). The same JSON reader
as GigaSpeech (the two releases share the format, with plain subset names here).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from espnet_codec_lm.data.corpora.base import (
    apply_punctuation,
    load_options,
    need_dir,
    pick_subsets,
    prepare_subsets,
)
from espnet_codec_lm.data.corpora.gigaspeech import iter_segments, load_json
from espnet_codec_lm.data.data_dir import DataDir, Segment
from espnet_codec_lm.data.hooks import HookConfig
from espnet_codec_lm.data.kaldi_io import DataDirError

SUBSETS = {"train": None, "dev": "DEV", "test_net": "TEST_NET", "test_meeting": "TEST_MEETING"}


@dataclass
class WenetSpeechOptions:
    """Training subset, confidence threshold and the text hook."""

    train_subset: str = "L"
    min_confidence: float = 0.0
    punctuation: HookConfig = field(default_factory=HookConfig)


def build_subset(root: Path, meta: dict, json_path: Path, tag: str, min_conf: float) -> DataDir:
    """Segments tagged ``tag`` as a data dir with ``segments``."""
    wav_scp, segments, utt2spk, text = {}, {}, {}, {}
    for audio, seg in iter_segments(meta, json_path):
        if tag not in seg.get("subsets", []) or float(seg.get("confidence", 1.0)) < min_conf:
            continue
        t = "".join(str(seg.get("text", "")).split())
        if not t:
            continue
        sid, aid = seg["sid"], audio["aid"]
        if aid not in wav_scp:
            path = root / audio["path"]
            if not path.is_file():
                raise DataDirError(f"{json_path}: recording '{aid}': audio {path} not found")
            wav_scp[aid] = str(path.resolve())
        segments[sid] = Segment(aid, float(seg["begin_time"]), float(seg["end_time"]))
        utt2spk[sid] = aid
        text[sid] = t
    return DataDir(wav_scp, utt2spk, text, segments, dict.fromkeys(utt2spk, "zh"))


def prepare_wenetspeech(
    src: Path | None,
    out: Path,
    subsets: Sequence[str] | None = None,
    nj: int = 1,
    config: str | Path | None = None,
    overrides: Sequence[str] = (),
) -> dict[str, int]:
    """Write ``train`` / ``dev`` / ``test_net`` / ``test_meeting``."""
    opts = load_options(WenetSpeechOptions, "wenetspeech", config, overrides)
    if opts.train_subset not in ("S", "M", "L"):
        raise ValueError("wenetspeech: train_subset must be S, M or L")
    root = need_dir(src, "wenetspeech")
    json_path = root / "WenetSpeech.json"
    chosen = pick_subsets("wenetspeech", subsets, list(SUBSETS), list(SUBSETS))
    cache: dict = {}

    def build(name: str) -> DataDir:
        if "meta" not in cache:
            cache["meta"] = load_json(json_path)
        tag = SUBSETS[name] or opts.train_subset
        dd = build_subset(root, cache["meta"], json_path, tag, opts.min_confidence)
        if len(dd) == 0:
            raise DataDirError(f"wenetspeech: {json_path}: no segment in subset {tag}")
        return replace(dd, text=apply_punctuation(dd.text, "zh", opts.punctuation))

    return prepare_subsets("wenetspeech", root, out, {s: s for s in chosen}, opts, build, nj)
