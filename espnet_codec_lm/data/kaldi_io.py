"""Kaldi-style two-column text files (``id value``): reading with line-precise errors, writing
sorted (C locale = code-point order) and atomically.

Every file of a data directory (``text``, ``utt2spk``, ``wav.scp``, ...) is one of these. kaldiio's
``load_scp`` parses the same format but stops at the first problem with a generic message and
silently keeps the last of duplicated ids, so the tables are read here, and kaldiio is used for
what it is good at: opening ``wav.scp`` entries (paths, ``cmd |`` pipes, ark offsets).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from espnet_codec_lm.utils.fileio import atomic_open, unsafe_id_reason


class DataDirError(ValueError):
    """A problem with a data directory, reported on one line naming the file and the id/line."""


@dataclass(frozen=True)
class Problem:
    """One defect found in a data directory: the file, the line (0 if none), the utterance."""

    file: str
    message: str
    utt: str | None = None
    line: int = 0

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        who = f" utterance '{self.utt}':" if self.utt is not None else ""
        return f"{where}:{who} {self.message}"


def parse_table(
    path: str | Path,
    allow_empty_value: bool = False,
    check_sorted: bool = False,
    empty_message: str = "empty value",
    check_ids: bool = False,
) -> tuple[dict[str, str], list[Problem]]:
    """Read ``id value`` lines leniently: the good lines, and every :class:`Problem` found.

    Problems: a line that is not UTF-8 (its id is still reported when it can be decoded), a
    line with no value (unless ``allow_empty_value``), a duplicated id (the first one is kept),
    with ``check_sorted`` the first id out of C-locale order, and with ``check_ids`` every id
    that is not a safe file name (``fileio.unsafe_id_reason``: stages name files after
    utterance ids; the line is kept, so ``skip_bad`` drops the utterance).
    """
    path = Path(path)
    problems: list[Problem] = []
    try:
        raw = path.read_bytes()
    except OSError as e:
        return {}, [Problem(str(path), f"cannot read: {e.strerror or e}")]
    out: dict[str, str] = {}
    prev: str | None = None
    unsorted_reported = False
    for lineno, line_b in enumerate(raw.splitlines(), start=1):
        try:
            line = line_b.decode("utf-8")
        except UnicodeDecodeError as e:
            key = line_b.split(maxsplit=1)[0].decode("utf-8", "replace") if line_b.strip() else None
            msg = f"not valid UTF-8 (byte {e.start} of the line)"
            problems.append(Problem(str(path), msg, key, lineno))
            continue
        line = line.strip()
        if not line:
            continue
        parts = line.split(maxsplit=1)
        key = parts[0]
        value = parts[1].strip() if len(parts) > 1 else ""
        if not value and not allow_empty_value:
            problems.append(Problem(str(path), empty_message, key, lineno))
            continue
        if key in out:
            problems.append(Problem(str(path), "duplicate id", key, lineno))
            continue
        reason = unsafe_id_reason(key) if check_ids else None
        if reason is not None:
            msg = f"id is not a safe file name ({reason})"
            problems.append(Problem(str(path), msg, key, lineno))
        if check_sorted and prev is not None and key < prev and not unsorted_reported:
            msg = f"not sorted (comes after '{prev}'; write with LC_ALL=C sort)"
            problems.append(Problem(str(path), msg, key, lineno))
            unsorted_reported = True
        prev = key
        out[key] = value
    return out, problems


def read_table(
    path: str | Path, allow_empty_value: bool = False, check_ids: bool = False
) -> dict[str, str]:
    """Read ``id value`` lines into an ordered dict; the first problem (not UTF-8, empty value,
    duplicate id, with ``check_ids`` an id that is not a safe file name) raises a one-line
    :class:`DataDirError` naming file, line and id."""
    out, problems = parse_table(path, allow_empty_value, check_ids=check_ids)
    if problems:
        raise DataDirError(str(problems[0]))
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


def num_frames_path(scp: str | Path) -> Path:
    """``<dir>/<name>.num_frames`` beside a codes list ``<dir>/<name>.scp``: ``utt T`` per line
    (Kaldi's ``utt2num_frames``), written by the tokenize stage."""
    scp = Path(scp)
    stem = scp.name[: -len(".scp")] if scp.name.endswith(".scp") else scp.name
    return scp.with_name(stem + ".num_frames")
