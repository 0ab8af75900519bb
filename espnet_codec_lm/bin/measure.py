"""Wall time, CPU time and peak memory of one command and all its descendants.

``run`` starts the command, samples the resident memory of its whole process tree (the sum over
the live processes, via psutil) every 0.2 s, and appends one JSON line to ``--log`` when it ends:
``label``, ``wall_s``, ``cpu_s`` (user + system of every descendant, from ``getrusage``),
``peak_rss_mb`` (largest sampled sum), ``rc`` and ``start``. The command's exit status is
returned. ``summary`` prints the recorded stages as a table (plain or Markdown).

A recipe wraps each stage in it (the mini recipe's run.sh does) to report what a stage costs.

Usage:
    python -m espnet_codec_lm.bin.measure run --log exp/stage_times.jsonl --label "stage 4" -- \
        ./codec_lm.sh --stage 4
    python -m espnet_codec_lm.bin.measure summary --log exp/stage_times.jsonl [--markdown]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

POLL_S = 0.2


def _tree_rss(proc) -> int:
    """Resident bytes of ``proc`` and its live descendants (shared pages counted per process,
    so the figure errs on the high side)."""
    import psutil

    total = 0
    try:
        procs = [proc, *proc.children(recursive=True)]
    except psutil.Error:
        return 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.Error:  # exited between listing and reading
            pass
    return total


def run(cmd: list[str], label: str, log: Path) -> int:
    """Run ``cmd`` to the end; record its figures in ``log``; return its exit status."""
    import psutil

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0, start = time.perf_counter(), time.strftime("%Y-%m-%dT%H:%M:%S")
    child = subprocess.Popen(cmd)
    proc = psutil.Process(child.pid)
    peak = 0
    while child.poll() is None:
        peak = max(peak, _tree_rss(proc))
        time.sleep(POLL_S)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    # ru_maxrss (KiB on Linux): the largest single descendant, a floor for very short commands
    peak = max(peak, after.ru_maxrss * 1024)
    row = {
        "label": label,
        "wall_s": round(wall, 1),
        "cpu_s": round(cpu, 1),
        "peak_rss_mb": round(peak / 2**20, 1),
        "rc": child.returncode,
        "start": start,
    }
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "a", encoding="utf-8") as f:
        f.write(json.dumps(row) + "\n")
    return child.returncode


def read_log(log: Path) -> list[dict]:
    """The recorded rows; a label recorded twice keeps its last run (a rerun replaces it)."""
    rows: dict[str, dict] = {}
    if log.is_file():
        for n, line in enumerate(log.read_text(encoding="utf-8").splitlines(), 1):
            if line.strip():
                try:
                    row = json.loads(line)
                except json.JSONDecodeError:
                    raise ValueError(f"{log}:{n}: not a JSON line") from None
                rows.pop(row["label"], None)
                rows[row["label"]] = row
    return list(rows.values())


def summary(rows: list[dict], markdown: bool = False) -> str:
    """A table of the rows plus a total line (wall and CPU summed, memory the maximum)."""
    total = {
        "label": "total",
        "wall_s": round(sum(r["wall_s"] for r in rows), 1),
        "cpu_s": round(sum(r["cpu_s"] for r in rows), 1),
        "peak_rss_mb": max((r["peak_rss_mb"] for r in rows), default=0.0),
        "rc": max((r["rc"] for r in rows), default=0),
    }
    lines = []
    if markdown:
        lines += ["| step | wall (s) | CPU (s) | peak memory (MB) |", "|---|---:|---:|---:|"]
    else:
        lines.append(f"{'step':<44} {'wall s':>8} {'CPU s':>8} {'peak MB':>8}")
    for r in [*rows, total]:
        fail = "" if r["rc"] == 0 else f" (exit {r['rc']})"
        if markdown:
            lines.append(
                f"| {r['label']}{fail} | {r['wall_s']:.1f} | {r['cpu_s']:.1f} | "
                f"{r['peak_rss_mb']:.0f} |"
            )
        else:
            lines.append(
                f"{r['label'] + fail:<44} {r['wall_s']:>8.1f} {r['cpu_s']:>8.1f} "
                f"{r['peak_rss_mb']:>8.0f}"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status (the command's for ``run``)."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="verb", required=True)
    r = sub.add_parser("run", help="run a command and record its figures")
    r.add_argument("--log", required=True, type=Path)
    r.add_argument("--label", required=True)
    r.add_argument("cmd", nargs=argparse.REMAINDER, help="-- command args...")
    s = sub.add_parser("summary", help="print the recorded figures")
    s.add_argument("--log", required=True, type=Path)
    s.add_argument("--markdown", action="store_true")
    args = p.parse_args(argv)
    if args.verb == "run":
        cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
        if not cmd:
            p.error("run: no command given (after --)")
        return run(cmd, args.label, args.log)
    try:
        print(summary(read_log(args.log), args.markdown))
    except ValueError as e:
        print(f"measure: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
