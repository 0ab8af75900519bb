"""Where a result came from: the git commit of the code, and one line per (re)start of a run.

Every trainer (codec, USTokenizer, LM) appends to ``<exp_dir>/run_info.yaml`` at each start,
so a model can always be traced to the commands and code that trained it (the codec's model
card reads it); reports name the commit their numbers were made with.
"""

from __future__ import annotations

import re
import subprocess
import time
from pathlib import Path

from espnet_codec_lm.utils.fileio import atomic_write_text

#: the repository of this package
ROOT = Path(__file__).resolve().parents[2]


def git_commit(
    where: str | Path = ROOT,
    pathspec: tuple[str, ...] = (),
    short: bool = False,
    ignore: re.Pattern | None = None,
) -> tuple[str, bool] | None:
    """``(commit, dirty)`` of the checkout holding ``where``, or None outside a git checkout
    (or without git). ``dirty``: tracked files changed (only under ``pathspec`` when given;
    paths matching ``ignore`` do not count, e.g. the outputs a report itself rewrites)."""
    head_cmd = ["git", "rev-parse", *(["--short"] if short else []), "HEAD"]
    status_cmd = ["git", "status", "--porcelain", "--untracked-files=no", "--", *pathspec]
    try:
        head = subprocess.run(head_cmd, cwd=where, capture_output=True, text=True)
        status = subprocess.run(status_cmd, cwd=where, capture_output=True, text=True)
    except OSError:
        return None
    if head.returncode:
        return None
    changed = [x[3:] for x in status.stdout.splitlines() if x.strip()]
    if ignore is not None:
        changed = [x for x in changed if not ignore.search(x)]
    return head.stdout.strip(), bool(changed)


def command_line(entry: str, argv: list[str] | None = None) -> str:
    """The command a run was started with, for ``run_info.yaml``: ``entry`` (e.g. ``python -m
    espnet_codec_lm.bin.codec_train``) and the arguments (``sys.argv[1:]`` when None), quoted."""
    import shlex
    import sys

    return f"{entry} {shlex.join(sys.argv[1:] if argv is None else argv)}".strip()


def record_start(exp_dir: Path, step: int, command: str | None, pathspec=()) -> None:
    """Append this (re)start to ``run_info.yaml``: time, step, command, commit (``+dirty`` when
    the code under ``pathspec`` has uncommitted changes)."""
    import yaml

    found = git_commit(ROOT, tuple(pathspec))
    commit = "unknown" if found is None else found[0] + ("+dirty" if found[1] else "")
    path = Path(exp_dir) / "run_info.yaml"
    runs = (yaml.safe_load(path.read_text()) if path.is_file() else None) or []
    runs.append(
        {
            "started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
            "from_step": step,
            "command": command or "",
            "git_commit": commit,
        }
    )
    atomic_write_text(path, yaml.safe_dump(runs, sort_keys=False))
