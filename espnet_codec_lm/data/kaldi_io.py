"""Kaldi-style two-column text files (``id value``): reading with line-precise errors, writing
sorted (C locale = code-point order) and atomically.

Every file of a data directory (``text``, ``utt2spk``, ``wav.scp``, ...) is one of these. kaldiio's
``load_scp`` parses the same format but stops at the first problem with a generic message and
silently keeps the last of duplicated ids, so the tables are read here, and kaldiio is used for
what it is good at: opening ``wav.scp`` entries (paths, ``cmd |`` pipes, ark offsets).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from espnet_codec_lm.utils.fileio import atomic_open


class DataDirError(ValueError):
    """A problem with a data directory, reported on one line naming the file and the id/line."""


def read_table(
    path: str | Path, allow_empty_value: bool = False, allow_duplicates: bool = False
) -> dict[str, str]:
    """Read ``id value`` lines into an ordered dict.

    Errors (one line each, naming ``path``, the line number and the id): not UTF-8, a line with
    no value (unless ``allow_empty_value``), a duplicated id (unless ``allow_duplicates``, in
    which case the first one wins).
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise DataDirError(f"{path}: cannot read: {e.strerror or e}") from None
    out: dict[str, str] = {}
    for lineno, line_b in enumerate(raw.splitlines(), start=1):
        try:
            line = line_b.decode("utf-8")
        except UnicodeDecodeError as e:
            raise DataDirError(f"{path}:{lineno}: not valid UTF-8 (byte {e.start})") from None
        line = line.strip()
        if not line:
            continue
        parts = line.split(maxsplit=1)
        key = parts[0]
        value = parts[1].strip() if len(parts) > 1 else ""
        if not value and not allow_empty_value:
            raise DataDirError(f"{path}:{lineno}: utterance '{key}' has an empty value")
        if key in out:
            if allow_duplicates:
                continue
            raise DataDirError(f"{path}:{lineno}: duplicate id '{key}'")
        out[key] = value
    return out


def sorted_items(mapping: Mapping[str, str]) -> list[tuple[str, str]]:
    """Items in Kaldi order: ``LC_ALL=C sort`` (byte order; for UTF-8 equal to code points)."""
    return sorted(mapping.items(), key=lambda kv: kv[0])


def write_table(path: str | Path, mapping: Mapping[str, str] | Iterable[tuple[str, str]]) -> None:
    """Write ``id value`` lines sorted by id, atomically. Ids must be non-empty, without blanks."""
    items = mapping.items() if isinstance(mapping, Mapping) else mapping
    items = sorted(items, key=lambda kv: kv[0])
    with atomic_open(path, "w") as f:
        for key, value in items:
            if not key or any(c.isspace() for c in key):
                raise DataDirError(f"{path}: invalid id {key!r} (empty or contains whitespace)")
            value = str(value)
            if "\n" in value:
                raise DataDirError(f"{path}: value of '{key}' contains a newline")
            f.write(f"{key} {value}\n")
