"""Speech sets as WebDataset tar shards plus a manifest, for the streaming CPT source.

Layout of a shard directory (what ``bin/make_shards`` writes)::

    <out>/shard-000000.tar ...   one tar per shard (WebDataset convention: the files of one
                                 utterance share a key, here its index in the set)
        000000042.json           {"id", "lang", "text", "translation", "tgt_lang", "speaker"}
        000000042.codes.npy      [T, n_q] int16 (int32 when a code does not fit)
        000000042.codes_tgt.npy  S2ST target speech, when the set has one for the utterance
    <out>/manifest.json          format, source paths, and per shard: name, utterances, frames,
                                 bytes, and how many utterances have a transcript, a translation
                                 and target speech

The key is the utterance's index, not its id: WebDataset splits a member name at its first dot,
and Kaldi ids may hold dots. The metadata is the one :class:`~espnet_codec_lm.tasks.corpus.
SpeechSetTables` gives the in-memory path (same language, translation and target-language
rules); texts are stored as written and tokenised (and passed through the hooks) when a shard
is read. Shards are written to a temporary name and renamed; the manifest is written last, so
a directory with a manifest is complete.
"""

from __future__ import annotations

import io
import json
import tarfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from espnet_codec_lm.lm.vocab import VocabLayout
from espnet_codec_lm.tasks.corpus import SpeechSetTables, _checked_codes, iter_codes
from espnet_codec_lm.tasks.sequence import Sample
from espnet_codec_lm.utils.fileio import atomic_path, atomic_write_text

FORMAT = "espnet_codec_lm/shards-v1"
MANIFEST = "manifest.json"
META_FIELDS = ("lang", "text", "translation", "tgt_lang", "speaker")
#: what a CPT task may need, counted per shard (availability of the mixture's sources)
COUNTED = ("text", "translation", "codes_tgt")


@dataclass(frozen=True)
class ShardInfo:
    """One shard of a manifest: its path and what the manifest says it holds."""

    path: Path
    utterances: int
    frames: int
    bytes: int
    counts: dict  # utterances with a text / translation / codes_tgt


@dataclass(frozen=True)
class Manifest:
    path: Path
    shards: list[ShardInfo]
    punctuate: bool = False

    @property
    def utterances(self) -> int:
        return sum(s.utterances for s in self.shards)


def default_shard_dir(codes: str | Path) -> Path:
    """Where ``make_shards`` writes the shards of a codes list by default: ``<its dir>/shards``."""
    return Path(codes).parent / "shards"


def _codes_array(arr, where: str) -> np.ndarray:
    """``arr`` as int16 (int32 when a code does not fit) ``[T, n_q]``, or a one-line error."""
    arr = np.asarray(arr)
    if arr.ndim != 2 or not arr.shape[0]:
        raise ValueError(f"{where}: codes must be [T > 0, n_q], got {arr.shape}")
    if not np.issubdtype(arr.dtype, np.integer):
        if not np.array_equal(arr, np.round(arr)):
            raise ValueError(f"{where}: codes are not integers ({arr.dtype})")
    if arr.min() < 0:
        raise ValueError(f"{where}: negative codes")
    dtype = np.int16 if arr.max() < 2**15 else np.int32
    return np.ascontiguousarray(arr.astype(dtype))


def _npy(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    return buf.getvalue()


def _item(i, uttid, arr, tables, codes, codes_tgt, tgt, info: dict) -> dict:
    """The WebDataset sample of utterance ``i`` (counted into its shard's ``info``)."""
    sample = tables.sample(uttid, _codes_array(arr, f"{codes}: utterance {uttid}"))
    meta = {"id": uttid} | {f: getattr(sample, f) for f in META_FIELDS}
    item = {
        "__key__": f"{i:09d}",
        "json": json.dumps(meta, ensure_ascii=False).encode(),
        "codes.npy": _npy(sample.codes),
    }
    if uttid in tgt:
        try:
            t = tgt[uttid]
        except Exception as e:
            msg = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise ValueError(f"{codes_tgt}: utterance {uttid}: cannot read codes ({msg})") from None
        item["codes_tgt.npy"] = _npy(_codes_array(t, f"{codes_tgt}: utterance {uttid}"))
    info["utterances"] += 1
    info["frames"] += len(sample.codes)
    info["text"] += bool(sample.text)
    info["translation"] += bool(sample.translation)
    info["codes_tgt"] += "codes_tgt.npy" in item
    return item


def write_shards(
    data_dir: str | Path,
    codes: str | Path,
    out_dir: str | Path,
    codes_tgt: str | Path | None = None,
    num_shards: int = 0,
    shard_utts: int = 1000,
    punctuate: bool = False,
    progress=None,
) -> dict:
    """Write the utterances of ``codes`` (in its order; the metadata from ``data_dir``) into
    ``num_shards`` tars of consecutive utterances (0: one per ``shard_utts``) and the manifest;
    returns the manifest. ``progress``: a callable ``(n)`` told of each utterance written."""
    import kaldiio
    import webdataset as wds

    tables = SpeechSetTables.read(data_dir)
    if not Path(codes).is_file():
        raise ValueError(f"{codes}: codes file not found")
    n_utts = sum(1 for line in Path(codes).read_text(encoding="utf-8").splitlines() if line.strip())
    if not n_utts:
        raise ValueError(f"{codes}: no utterances")
    if codes_tgt is not None and not Path(codes_tgt).is_file():
        raise ValueError(f"{codes_tgt}: codes file not found")
    tgt = kaldiio.load_scp(str(codes_tgt)) if codes_tgt else {}
    if num_shards <= 0:
        num_shards = max(1, -(-n_utts // max(shard_utts, 1)))
    num_shards = min(num_shards, n_utts)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    shards: list[dict] = []
    seen: set[str] = set()
    entries = iter_codes(str(codes))
    for k in range(num_shards):
        info = {"name": f"shard-{k:06d}.tar", "utterances": 0, "frames": 0}
        info |= {c: 0 for c in COUNTED}
        shards.append(info)
        first, end = k * n_utts // num_shards, (k + 1) * n_utts // num_shards  # balanced
        with atomic_path(out / info["name"]) as tmp, wds.TarWriter(str(tmp), encoder=False) as w:
            for i in range(first, end):
                uttid, arr = next(entries, (None, None))
                if uttid is None:
                    raise ValueError(f"{codes}: fewer entries than lines")
                if uttid in seen:
                    raise ValueError(f"{codes}: utterance {uttid} appears twice")
                seen.add(uttid)
                w.write(_item(i, uttid, arr, tables, codes, codes_tgt, tgt, info))
                if progress is not None:
                    progress(1)
    for info in shards:
        info["bytes"] = (out / info["name"]).stat().st_size
    manifest = {
        "format": FORMAT,
        "data_dir": str(data_dir),
        "codes": str(codes),
        "codes_tgt": str(codes_tgt) if codes_tgt else None,
        "punctuate": bool(punctuate),
        "utterances": sum(s["utterances"] for s in shards),
        "frames": sum(s["frames"] for s in shards),
        "shards": shards,
    }
    atomic_write_text(out / MANIFEST, json.dumps(manifest, indent=1, ensure_ascii=False) + "\n")
    return manifest


def read_manifest(path: str | Path) -> Manifest:
    """A shard manifest (a ``manifest.json`` or the directory holding one), checked: a missing
    or malformed manifest, or a shard it names that is missing, is a one-line error."""
    path = Path(path)
    if path.is_dir():
        path = path / MANIFEST
    if not path.is_file():
        raise ValueError(f"{path}: shard manifest not found (write it with make_shards)")
    try:
        m = json.loads(path.read_text(encoding="utf-8"))
        if m.get("format") != FORMAT:
            raise ValueError(f"format {m.get('format')!r}, expected {FORMAT!r}")
        shards = [
            ShardInfo(
                path.parent / s["name"],
                int(s["utterances"]),
                int(s["frames"]),
                int(s["bytes"]),
                {c: int(s[c]) for c in COUNTED},
            )
            for s in m["shards"]
        ]
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise ValueError(f"{path}: not a shard manifest ({e})") from None
    for s in shards:
        if not s.path.is_file():
            raise ValueError(f"{s.path}: shard not found (listed in {path})")
    return Manifest(path, shards, bool(m.get("punctuate", False)))


def _load_npy(data: bytes, where: str) -> np.ndarray:
    try:
        return np.load(io.BytesIO(data), allow_pickle=False)
    except (ValueError, EOFError, OSError) as e:
        raise ValueError(f"{where}: corrupt codes ({e})") from None


def read_shard(shard: ShardInfo, layout: VocabLayout) -> list[Sample]:
    """The untokenised samples of one shard, codes checked against ``layout`` (the first
    ``num_streams`` codebooks kept). A missing, truncated or corrupt shard is a one-line error
    naming the file."""
    from webdataset.tariterators import group_by_keys, tar_file_iterator

    path = shard.path
    if not path.is_file():
        raise ValueError(f"{path}: shard not found")
    size = path.stat().st_size
    if size != shard.bytes:
        raise ValueError(
            f"{path}: truncated or rewritten shard ({size} bytes, the manifest says {shard.bytes})"
        )
    L, C = layout.num_streams, layout.codebook_size
    samples = []
    try:
        with open(path, "rb") as f:
            members = ({**m, "__url__": str(path)} for m in tar_file_iterator(f))
            for item in group_by_keys(members):
                meta = json.loads(item["json"])
                where = f"{path}: utterance {meta['id']}"
                s = Sample(uttid=meta["id"], **{k: meta.get(k) for k in META_FIELDS})
                s.codes = _checked_codes(_load_npy(item["codes.npy"], where), where, L, C)
                if "codes_tgt.npy" in item:
                    tgt = _load_npy(item["codes_tgt.npy"], where)
                    s.codes_tgt = _checked_codes(tgt, where + " (codes_tgt)", L, C)
                samples.append(s)
    except (tarfile.TarError, OSError, EOFError, KeyError, json.JSONDecodeError) as e:
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise ValueError(f"{path}: truncated or corrupt shard ({msg})") from None
    if len(samples) != shard.utterances:
        raise ValueError(
            f"{path}: truncated shard: {len(samples)} utterances, the manifest says "
            f"{shard.utterances}"
        )
    return samples
