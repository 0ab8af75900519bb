"""Atomic file writes: write a temporary file beside the target, fsync, then rename.

A reader (or a rerun after a crash) sees either the old file or the complete new one, never a
half-written file. ``os.replace`` is atomic on POSIX when source and target share a filesystem,
which is why the temporary file lives in the target's own directory. The file gets the mode a
plain ``open`` would give it (``0666 & ~umask``), not ``mkstemp``'s 0600, so a group on a shared
cluster can read what a run wrote; :func:`replace_dir` swaps a whole directory in (files that
belong together, such as a codec's weights and config).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO


def current_umask() -> int:
    """The process umask (from ``/proc/self/status`` where there is one: reading it with
    ``os.umask`` means setting it, which is not thread-safe)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _file_target(path: str | Path) -> Path:
    """``path`` with its directory created; a directory at ``path`` itself is a one-line error
    (``os.replace`` would fail only after the whole file was written)."""
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{path}: is a directory (a file name is needed)")
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


@contextlib.contextmanager
def atomic_open(path: str | Path, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[IO]:
    """Open a temporary file that replaces ``path`` only if the ``with`` block succeeds."""
    path = _file_target(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.fchmod(fd, 0o666 & ~current_umask())  # mkstemp's 0600 would outlive the rename
    binary = "b" in mode
    try:
        with os.fdopen(fd, mode, encoding=None if binary else encoding) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (UTF-8)."""
    with atomic_open(path, "w") as f:
        f.write(text)


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_open(path, "wb") as f:
        f.write(data)


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path for a library that insists on writing by name (``sf.write``,
    ``torch.save``, ``save_file``); it is renamed onto ``path`` when the block succeeds."""
    path = _file_target(path)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{path.stem}.", suffix=path.suffix or ".tmp", dir=path.parent
    )
    mode = 0o666 & ~current_umask()
    os.fchmod(fd, mode)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, mode)  # a library may have replaced the file (safetensors writes 0600)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


class UnsafeIdError(ValueError):
    """An id (utterance, speaker, ...) that cannot be used as a file name."""


def unsafe_id_reason(uid: str) -> str | None:
    """Why ``uid`` is not a safe file name (``None``: it is). Safe ids are non-empty, have no
    path separator (``/``, ``\\``), no whitespace or control character, and do not start with
    ``.`` (which also rules out ``.`` and ``..``)."""
    if not uid:
        return "empty"
    if uid in (".", ".."):
        return f"is '{uid}'"
    for sep in ("/", "\\"):
        if sep in uid:
            return f"contains '{sep}'"
    if any(c.isspace() for c in uid):
        return "contains whitespace"
    if any(ord(c) < 32 or ord(c) == 127 for c in uid):
        return "contains a control character"
    if uid.startswith("."):
        return "starts with '.'"
    return None


def check_id(uid: str, what: str = "utterance") -> str:
    """``uid`` if it is a safe file name, else a one-line :class:`UnsafeIdError`."""
    reason = unsafe_id_reason(uid)
    if reason is not None:
        raise UnsafeIdError(f"{what} '{uid}': id is not a safe file name ({reason})")
    return uid


def id_path(directory: str | Path, uid: str, suffix: str = "", prefix: str = "") -> Path:
    """``directory / (prefix + uid + suffix)``: the one way writers name a file after an id.

    Refuses (:class:`UnsafeIdError` naming the directory and the id) any id that is not a safe
    file name, and any result that would not be a direct child of ``directory``."""
    directory = Path(directory)
    try:
        name = prefix + check_id(uid) + suffix
    except UnsafeIdError as e:
        raise UnsafeIdError(f"{directory}: {e}") from None
    path = directory / name
    if path.name != name or path.parent != directory or unsafe_id_reason(name) is not None:
        raise UnsafeIdError(f"{directory}: utterance '{uid}': {name!r} would leave the directory")
    return path


def read_json_object(path: str | Path) -> dict:
    """A JSON object from ``path``; not UTF-8, not JSON or not an object is a one-line
    ``ValueError`` naming the file (and the line of a syntax error)."""
    import json

    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as e:
        raise ValueError(f"{path}: not valid UTF-8 (byte {e.start})") from None
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: line {e.lineno} not valid JSON: {e.msg}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object, got {type(data).__name__}")
    return data


def umask_modes(directory: str | Path) -> None:
    """Give a directory we wrote (before it is renamed into place) and everything in it the
    modes a plain ``open`` / ``mkdir`` would: ``mkdtemp`` makes 0700, ``mkstemp`` and
    safetensors' ``save_file`` 0600."""
    mask = current_umask()
    directory = Path(directory)
    os.chmod(directory, 0o777 & ~mask)
    for root, dirs, files in os.walk(directory):
        for d in dirs:
            os.chmod(os.path.join(root, d), 0o777 & ~mask)
        for f in files:
            os.chmod(os.path.join(root, f), 0o666 & ~mask)


_RENAME_EXCHANGE = 2  # renameat2 flag (Linux >= 3.15; ext4, xfs, btrfs, tmpfs)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one atomic step, where the kernel and C library offer it."""
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd = -100
    rc = renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), _RENAME_EXCHANGE)
    return rc == 0


@contextlib.contextmanager
def staged_dir(path: str | Path) -> Iterator[Path]:
    """Yield a new, empty directory beside ``path``; when the block succeeds it replaces
    ``path`` as a whole (:func:`replace_dir`), so a reader sees every file of the old or every
    file of the new directory, never a mix. Files of the old directory that the block did not
    write are carried over. A failed block leaves ``path`` as it was."""
    import shutil

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in path.parent.glob(f".{path.name}.*.new"):  # left by a killed run
        shutil.rmtree(stale, ignore_errors=True)
    new = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".new", dir=path.parent))
    try:
        yield new
        if path.is_dir():
            for old in path.iterdir():
                if not (new / old.name).exists() and not old.name.startswith("."):
                    if old.is_dir():
                        shutil.copytree(old, new / old.name)
                    else:
                        shutil.copy2(old, new / old.name)
        umask_modes(new)
        replace_dir(new, path)
    except BaseException:
        shutil.rmtree(new, ignore_errors=True)
        raise


def replace_dir(new: str | Path, path: str | Path) -> None:
    """Put directory ``new`` in the place of ``path`` (created if absent): one atomic exchange
    where the system offers it (Linux ``renameat2``), else two renames, between which ``path``
    briefly does not exist (never a mix of old and new files)."""
    import shutil

    new, path = Path(new), Path(path)
    if not path.exists():
        os.rename(new, path)
        return
    if _exchange(new, path):
        shutil.rmtree(new)  # now holds the old directory
        return
    old = path.with_name(f".{path.name}.{os.getpid()}.old")
    shutil.rmtree(old, ignore_errors=True)
    os.rename(path, old)
    os.rename(new, path)
    shutil.rmtree(old)


def sha256_files(*files: Path) -> str:
    """sha256 over the bytes of ``files`` in order (a missing file counts as empty; each file
    ends with a separator, so moving bytes between files changes the digest)."""
    import hashlib

    h = hashlib.sha256()
    for f in map(Path, files):
        if f.is_file():
            with open(f, "rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    h.update(block)
        h.update(b"\0")
    return h.hexdigest()
