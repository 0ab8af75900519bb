"""Validate a Kaldi data directory: every problem, one line each, naming file and utterance.

Checks, per file: UTF-8, duplicate ids, empty values (an empty transcript), C-locale order,
``segments`` syntax, numeric ``utt2dur``. Between files: every utterance has audio (``wav.scp``
or ``segments`` -> ``wav.scp``), a speaker, a transcript and a language; ``text`` has no id
unknown to ``wav.scp``; ``text.<lang>``, ``wav_tgt.scp``, ``utt2dur`` refer only to known
utterances; ``spk2utt`` agrees with ``utt2spk``. With ``check_audio``: every source and S2ST
target audio exists, decodes, is not truncated, not empty, and has no NaN/Inf.

:func:`clean_data_dir` is the ``skip_bad`` policy: it drops the utterances that have a problem
and returns a consistent :class:`DataDir` plus the dropped ids.
"""

from __future__ import annotations

import dataclasses
import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from espnet_codec_lm.data.audio import AudioError, load_audio
from espnet_codec_lm.data.data_dir import REQUIRED, DataDir, Segment
from espnet_codec_lm.data.kaldi_io import DataDirError, Problem, parse_table
from espnet_codec_lm.utils.progress import progress

log = logging.getLogger(__name__)


def _segments(path: Path, problems: list[Problem]) -> dict[str, Segment] | None:
    if not path.is_file():
        return None
    table, probs = parse_table(path, check_sorted=True)
    problems += probs
    out: dict[str, Segment] = {}
    for utt, value in table.items():
        parts = value.split()
        try:
            if len(parts) != 3:
                raise ValueError("expected 'recording start end'")
            start, end = float(parts[1]), float(parts[2])
            if start < 0 or (end >= 0 and end <= start):
                raise ValueError(f"bad segment bounds {parts[1]} {parts[2]}")
        except ValueError as e:
            msg = str(e) if "bounds" in str(e) or "expected" in str(e) else "non-numeric bounds"
            problems.append(Problem(str(path), msg, utt))
            continue
        out[utt] = Segment(parts[0], start, end)
    return out


def load_lenient(path: str | Path) -> tuple[DataDir, list[Problem]]:
    """Read what can be read of a data directory, collecting per-file problems."""
    path = Path(path)
    problems: list[Problem] = []
    if not path.is_dir():
        return DataDir({}, {}, path=path), [Problem(str(path), "not a directory")]
    for name in REQUIRED:
        if not (path / name).is_file():
            problems.append(Problem(str(path / name), "missing (required in a data directory)"))

    def table(name: str, **kw) -> dict[str, str] | None:
        if not (path / name).is_file():
            return None
        t, probs = parse_table(path / name, check_sorted=True, **kw)
        problems.extend(probs)
        return t

    utt2dur_raw = table("utt2dur")
    utt2dur = None
    if utt2dur_raw is not None:
        utt2dur = {}
        for u, v in utt2dur_raw.items():
            try:
                utt2dur[u] = float(v)
            except ValueError:
                problems.append(Problem(str(path / "utt2dur"), f"not a number: {v!r}", u))
    translations = {}
    for f in sorted(path.glob("text.*")):
        if f.is_file() and not f.name.endswith((".tmp", "~")):
            translations[f.name.split(".", 1)[1]] = table(f.name, empty_message="empty translation")
    dd = DataDir(
        wav_scp=table("wav.scp", empty_message="no audio path") or {},
        utt2spk=table("utt2spk", empty_message="no speaker", check_ids=True) or {},
        text=table("text", empty_message="empty transcript"),
        segments=_segments(path / "segments", problems),
        utt2lang=table("utt2lang", empty_message="no language"),
        translations=translations,
        wav_tgt=table("wav_tgt.scp", empty_message="no target audio path"),
        utt2dur=utt2dur,
        path=path,
    )
    spk2utt = table("spk2utt")
    if spk2utt is not None:
        derived = {s: " ".join(u) for s, u in dd.spk2utt().items()}
        for spk in sorted(set(spk2utt) | set(derived)):
            if spk2utt.get(spk, "").split() != derived.get(spk, "").split():
                msg = f"speaker '{spk}' disagrees with utt2spk (regenerate spk2utt from utt2spk)"
                problems.append(Problem(str(path / "spk2utt"), msg))
    return dd, problems


def consistency_problems(dd: DataDir) -> list[Problem]:
    """Problems between files of a (leniently read) data directory."""
    p = str(dd.path or ".")
    probs: list[Problem] = []
    utts = set(dd.utt2spk)
    if dd.segments is not None:
        for u in sorted(utts - set(dd.segments)):
            probs.append(Problem(f"{p}/segments", "no segment for this utterance", u))
        for u, seg in sorted(dd.segments.items()):
            if seg.recording not in dd.wav_scp:
                msg = f"recording '{seg.recording}' is not in wav.scp"
                probs.append(Problem(f"{p}/segments", msg, u))
            if u not in utts:
                probs.append(Problem(f"{p}/segments", "not in utt2spk", u))
    else:
        for u in sorted(utts - set(dd.wav_scp)):
            probs.append(Problem(f"{p}/wav.scp", "no audio entry (utterance is in utt2spk)", u))
        for u in sorted(set(dd.wav_scp) - utts):
            probs.append(Problem(f"{p}/wav.scp", "not in utt2spk", u))
    audio_ids = set(dd.segments) if dd.segments is not None else set(dd.wav_scp)
    if dd.text is not None:
        for u in sorted(set(dd.text) - audio_ids):
            probs.append(Problem(f"{p}/text", "in text but not in wav.scp", u))
        for u in sorted(utts - set(dd.text)):
            probs.append(Problem(f"{p}/text", "no transcript", u))
    if dd.utt2lang is not None:
        for u in sorted(utts - set(dd.utt2lang)):
            probs.append(Problem(f"{p}/utt2lang", "no language", u))
    optional = [(f"text.{lang}", t) for lang, t in dd.translations.items()]
    optional += [("utt2lang", dd.utt2lang), ("wav_tgt.scp", dd.wav_tgt), ("utt2dur", dd.utt2dur)]
    for name, t in optional:
        for u in sorted(set(t or {}) - utts):
            probs.append(Problem(f"{p}/{name}", "not in utt2spk", u))
    return probs


def _check_one(args: tuple[str, str, float | None, float | None, str]) -> Problem | None:
    utt, entry, start, end, source = args
    try:
        load_audio(entry, 16000, utt, start, end, source=source)
    except AudioError as e:
        msg = str(e).split(f"utterance '{utt}': ", 1)[-1]
        return Problem(source, msg, utt)
    return None


def audio_problems(dd: DataDir, nj: int = 2) -> list[Problem]:
    """Decode every utterance's audio (and S2ST target) and report what is unusable."""
    p = str(dd.path or ".")
    jobs = []
    for u in dd.utt_ids:
        if dd.segments is not None:
            seg = dd.segments.get(u)
            if seg is None or seg.recording not in dd.wav_scp:
                continue  # already reported as an inconsistency
            jobs.append((u, dd.wav_scp[seg.recording], seg.start, seg.end, f"{p}/wav.scp"))
        elif u in dd.wav_scp:
            jobs.append((u, dd.wav_scp[u], None, None, f"{p}/wav.scp"))
        if dd.wav_tgt and u in dd.wav_tgt:
            jobs.append((u, dd.wav_tgt[u], None, None, f"{p}/wav_tgt.scp"))
    with ThreadPoolExecutor(max_workers=max(1, nj)) as ex:
        results = list(progress(ex.map(_check_one, jobs), desc="check audio", total=len(jobs)))
    return [r for r in results if r is not None]


def validate_data_dir(
    path: str | Path, check_audio: bool = True, nj: int = 2
) -> tuple[DataDir, list[Problem]]:
    """All problems of the data directory at ``path`` (empty list: valid)."""
    dd, problems = load_lenient(path)
    problems += consistency_problems(dd)
    if check_audio:
        problems += audio_problems(dd, nj)
    return dd, problems


def clean_data_dir(dd: DataDir, problems: list[Problem]) -> tuple[DataDir, list[str]]:
    """The ``skip_bad`` policy: drop every utterance named by a problem (and those left without
    audio, speaker or transcript). Returns the clean DataDir and the dropped ids, sorted.

    Problems that name no utterance (a missing required file, a wrong spk2utt, an unsorted
    file) do not drop anything: writing the result regenerates and sorts those files.
    """
    fatal = [pr for pr in problems if pr.utt is None and pr.message.startswith("missing")]
    if fatal:
        raise DataDirError(str(fatal[0]))
    bad = {pr.utt for pr in problems if pr.utt is not None and "not sorted" not in pr.message}
    keep = [u for u in dd.utt2spk if u not in bad]
    dropped = sorted(u for u in bad if u in dd.utt2spk)
    # the clean subset still names its source directory in errors (durations of a filter)
    return dataclasses.replace(dd.subset(keep), path=dd.path), dropped
