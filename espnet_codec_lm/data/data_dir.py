"""Kaldi data directories in memory: read, write, sort, subset, combine, look up audio.

Files (all ``id value`` lines, UTF-8, sorted by id; see ``doc/design.md``):

=================  ==========================================================================
``wav.scp``        recording id -> path / ``cmd |`` / ``file.ark:offset`` (required)
``segments``       utt id -> ``recording start end`` (seconds; ``end`` -1 = to the end);
                   without it, utterance id = recording id
``utt2spk``        utt id -> speaker (required); ``spk2utt`` is derived from it on writing
``text``           utt id -> transcript, in the utterance's language (punctuated)
``utt2lang``       utt id -> ``en`` / ``zh`` / ...
``text.<lang>``    utt id -> translation into ``<lang>`` (may cover a subset of utterances)
``wav_tgt.scp``    utt id -> target-language speech for S2ST (may cover a subset)
``utt2dur``        utt id -> seconds (optional; computed when a filter needs it)
=================  ==========================================================================

Any other ``utt2*`` file is carried along unchanged. Every operation returns a new
:class:`DataDir`; nothing is modified in place, and writing goes to a new directory.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from espnet_codec_lm.data.audio import audio_duration, load_audio
from espnet_codec_lm.data.kaldi_io import DataDirError, read_table, write_table

# files every data dir has; the others are optional
REQUIRED = ("wav.scp", "utt2spk")


@dataclass(frozen=True)
class Segment:
    """An utterance cut from a recording: ``[start, end)`` seconds (``end`` < 0: to the end)."""

    recording: str
    start: float
    end: float


@dataclass
class DataDir:
    """One Kaldi data directory. Dict keys are utterance ids, except ``wav_scp`` when
    ``segments`` is given (then they are recording ids)."""

    wav_scp: dict[str, str]
    utt2spk: dict[str, str]
    text: dict[str, str] | None = None
    segments: dict[str, Segment] | None = None
    utt2lang: dict[str, str] | None = None
    translations: dict[str, dict[str, str]] = field(default_factory=dict)  # lang -> text.<lang>
    wav_tgt: dict[str, str] | None = None
    utt2dur: dict[str, float] | None = None
    extra: dict[str, dict[str, str]] = field(default_factory=dict)  # other utt2* files
    path: Path | None = None

    # ------------------------------------------------------------------ views
    @property
    def utt_ids(self) -> list[str]:
        """Utterance ids in Kaldi (C-locale) order."""
        return sorted(self.utt2spk)

    def __len__(self) -> int:
        return len(self.utt2spk)

    def spk2utt(self) -> dict[str, list[str]]:
        """Speaker -> its utterances (sorted)."""
        out: dict[str, list[str]] = {}
        for utt in self.utt_ids:
            out.setdefault(self.utt2spk[utt], []).append(utt)
        return dict(sorted(out.items()))

    def audio_entry(self, utt: str) -> tuple[str, float | None, float | None]:
        """The ``wav.scp`` value of an utterance and its segment bounds (``None`` if whole)."""
        if self.segments is not None:
            seg = self.segments[utt]
            return self.wav_scp[seg.recording], seg.start, seg.end
        return self.wav_scp[utt], None, None

    def load_audio(self, utt: str, sample_rate: int = 16000) -> np.ndarray:
        """Utterance audio as mono float32 at ``sample_rate``; ``AudioError`` names utt + file."""
        entry, start, end = self.audio_entry(utt)
        src = f"{self.path}/wav.scp" if self.path else "wav.scp"
        return load_audio(entry, sample_rate, utt, start, end, source=src)

    def durations(self) -> dict[str, float]:
        """Seconds per utterance: ``utt2dur`` when present, else segments / audio headers.
        Audio whose header cannot be read is a one-line :class:`DataDirError` naming
        ``wav.scp`` and the utterance."""
        if self.utt2dur is not None and set(self.utt2dur) >= set(self.utt2spk):
            return {u: self.utt2dur[u] for u in self.utt_ids}

        out: dict[str, float] = {}
        for utt in self.utt_ids:
            entry, start, end = self.audio_entry(utt)
            if start is not None and end is not None and end >= 0:
                out[utt] = end - start
            else:
                try:
                    total = audio_duration(entry)
                except (OSError, ValueError, RuntimeError, EOFError) as e:  # libsndfile: Runtime
                    why = (str(e).splitlines() or [""])[0] or type(e).__name__
                    raise DataDirError(
                        f"{self.path or '.'}/wav.scp: utterance '{utt}': cannot read the "
                        f"duration of {entry.strip()}: {why}"
                    ) from None
                out[utt] = total - (start or 0.0)
        return out

    # ------------------------------------------------------------ operations
    def subset(self, utts: Iterable[str]) -> DataDir:
        """A new DataDir restricted to ``utts`` (unknown ids are an error)."""
        keep = set(utts)
        unknown = keep - set(self.utt2spk)
        if unknown:
            raise DataDirError(
                f"{self.path or '.'}: subset asks for unknown utterance '{sorted(unknown)[0]}'"
                f" ({len(unknown)} unknown)"
            )

        def pick(d):
            return None if d is None else {k: v for k, v in d.items() if k in keep}

        segments = pick(self.segments)
        if segments is not None:
            recs = {s.recording for s in segments.values()}
            wav_scp = {k: v for k, v in self.wav_scp.items() if k in recs}
        else:
            wav_scp = pick(self.wav_scp)
        return DataDir(
            wav_scp=wav_scp,
            utt2spk=pick(self.utt2spk),
            text=pick(self.text),
            segments=segments,
            utt2lang=pick(self.utt2lang),
            translations={lang: pick(t) for lang, t in self.translations.items()},
            wav_tgt=pick(self.wav_tgt),
            utt2dur=pick(self.utt2dur),
            extra={name: pick(t) for name, t in self.extra.items()},
            path=None,
        )

    def without(self, utts: Iterable[str]) -> DataDir:
        """A new DataDir without ``utts``."""
        drop = set(utts)
        return self.subset(u for u in self.utt2spk if u not in drop)

    def select(
        self,
        lang: str | None = None,
        speakers: Sequence[str] | None = None,
        first: int | None = None,
    ) -> DataDir:
        """Utterances of one language and/or some speakers; then the first ``first`` of them."""
        utts = self.utt_ids
        if lang is not None:
            if self.utt2lang is None:
                raise DataDirError(f"{self.path or '.'}: selecting lang={lang} needs utt2lang")
            utts = [u for u in utts if self.utt2lang.get(u) == lang]
        if speakers is not None:
            spk = set(speakers)
            utts = [u for u in utts if self.utt2spk[u] in spk]
        if first is not None:
            utts = utts[:first]
        return self.subset(utts)

    def with_durations(self) -> DataDir:
        """A copy with ``utt2dur`` filled in."""
        return dataclasses.replace(self, utt2dur=self.durations())

    def filter(
        self,
        min_duration: float | None = None,
        max_duration: float | None = None,
        max_text_length: int | None = None,
        text_length: Callable[[str], int] | None = None,
    ) -> tuple[DataDir, dict[str, str]]:
        """Keep utterances within the duration range (s) and text length (``text_length(text)``,
        default: characters). Returns the new DataDir and ``{removed utt: reason}``."""
        removed: dict[str, str] = {}
        if min_duration is not None or max_duration is not None:
            durs = self.durations()
            for utt, d in durs.items():
                if min_duration is not None and d < min_duration:
                    removed[utt] = f"duration {d:.2f} s < {min_duration}"
                elif max_duration is not None and d > max_duration:
                    removed[utt] = f"duration {d:.2f} s > {max_duration}"
        if max_text_length is not None:
            if self.text is None:
                raise DataDirError(f"{self.path or '.'}: filtering by text length needs 'text'")
            length = text_length or len
            for utt in self.utt_ids:
                if utt in removed or utt not in self.text:
                    continue
                n = length(self.text[utt])
                if n > max_text_length:
                    removed[utt] = f"text length {n} > {max_text_length}"
        return self.without(removed), removed


# ---------------------------------------------------------------------------- read / write
def _float_table(table: dict[str, str], path: Path) -> dict[str, float]:
    out = {}
    for k, v in table.items():
        try:
            out[k] = float(v)
        except ValueError:
            raise DataDirError(f"{path}: utterance '{k}': not a number: {v!r}") from None
    return out


def parse_segments(path: Path) -> dict[str, Segment]:
    """Read ``segments``: ``utt recording start end`` with numeric, ordered bounds."""
    out: dict[str, Segment] = {}
    for utt, value in read_table(path).items():
        parts = value.split()
        if len(parts) != 3:
            raise DataDirError(f"{path}: utterance '{utt}': expected 'recording start end'")
        try:
            start, end = float(parts[1]), float(parts[2])
        except ValueError:
            raise DataDirError(f"{path}: utterance '{utt}': start/end are not numbers") from None
        if start < 0 or (end >= 0 and end <= start):
            raise DataDirError(f"{path}: utterance '{utt}': bad segment bounds {start} {end}")
        out[utt] = Segment(parts[0], start, end)
    return out


def read_data_dir(path: str | Path) -> DataDir:
    """Read a data directory; one-line :class:`DataDirError` on the first malformed file.

    This checks each file's syntax only; :func:`espnet_codec_lm.data.validate.validate_data_dir`
    checks consistency between files and the audio.
    """
    path = Path(path)
    if not path.is_dir():
        raise DataDirError(f"{path}: not a directory")
    for name in REQUIRED:
        if not (path / name).is_file():
            raise DataDirError(f"{path}/{name}: missing (required in a data directory)")

    def opt(name: str, **kw) -> dict[str, str] | None:
        return read_table(path / name, **kw) if (path / name).is_file() else None

    segments = parse_segments(path / "segments") if (path / "segments").is_file() else None
    utt2dur = opt("utt2dur")
    translations = {
        f.name.split(".", 1)[1]: read_table(f)
        for f in sorted(path.glob("text.*"))
        if f.is_file() and not f.name.endswith((".tmp", "~"))
    }
    known = {"utt2spk", "utt2lang", "utt2dur"}
    extra = {
        f.name: read_table(f)
        for f in sorted(path.glob("utt2*"))
        if f.is_file() and f.name not in known and not f.name.endswith(".tmp")
    }
    return DataDir(
        wav_scp=read_table(path / "wav.scp"),
        utt2spk=read_table(path / "utt2spk", check_ids=True),
        text=opt("text"),
        segments=segments,
        utt2lang=opt("utt2lang"),
        translations=translations,
        wav_tgt=opt("wav_tgt.scp"),
        utt2dur=_float_table(utt2dur, path / "utt2dur") if utt2dur is not None else None,
        extra=extra,
        path=path,
    )


def write_data_dir(dd: DataDir, path: str | Path, overwrite: bool = False) -> Path:
    """Write ``dd`` as a data directory at ``path`` (all files sorted; ``spk2utt`` derived).

    Refuses to write into the directory ``dd`` was read from, and into a non-empty directory
    unless ``overwrite``: stages write new directories, they never edit their input.
    """
    path = Path(path)
    if dd.path is not None and path.resolve() == Path(dd.path).resolve():
        raise DataDirError(f"{path}: refusing to overwrite the input data directory in place")
    if path.exists() and any(path.iterdir()) and not overwrite:
        raise DataDirError(f"{path}: output directory exists and is not empty")
    path.mkdir(parents=True, exist_ok=True)
    if overwrite:  # stale optional files from an older version of this dir would mislead
        for f in path.iterdir():
            if f.is_file() and not f.name.startswith("."):
                f.unlink()
    write_table(path / "wav.scp", dd.wav_scp)
    write_table(path / "utt2spk", dd.utt2spk)
    write_table(path / "spk2utt", {s: " ".join(u) for s, u in dd.spk2utt().items()})
    if dd.segments is not None:
        write_table(
            path / "segments",
            {u: f"{s.recording} {s.start:g} {s.end:g}" for u, s in dd.segments.items()},
        )
    for name, table in (("text", dd.text), ("utt2lang", dd.utt2lang), ("wav_tgt.scp", dd.wav_tgt)):
        if table is not None:
            write_table(path / name, table)
    if dd.utt2dur is not None:
        write_table(path / "utt2dur", {u: f"{d:.4f}" for u, d in dd.utt2dur.items()})
    for lang, table in dd.translations.items():
        write_table(path / f"text.{lang}", table)
    for name, table in dd.extra.items():
        write_table(path / name, table)
    return path


def combine_data_dirs(dirs: Sequence[DataDir]) -> DataDir:
    """Concatenate data dirs; an utterance (or recording) id present twice is an error."""
    if not dirs:
        raise DataDirError("combine: no data directories given")

    def merged(get, name: str, required: bool = False):
        tables = [get(d) for d in dirs]
        if all(t is None for t in tables):
            return None
        if any(t is None for t in tables) and required:
            missing = next(d for d, t in zip(dirs, tables) if t is None)
            raise DataDirError(f"combine: {missing.path or '?'} has no {name} but others do")
        out: dict = {}
        for d, t in zip(dirs, tables):
            for k, v in (t or {}).items():
                if k in out:
                    raise DataDirError(f"combine: {d.path or '?'}/{name}: duplicate id '{k}'")
                out[k] = v
        return out

    langs = sorted({lang for d in dirs for lang in d.translations})
    extras = sorted({n for d in dirs for n in d.extra})
    has_dur = all(d.utt2dur is not None for d in dirs)
    has_segments = [d.segments is not None for d in dirs]
    if any(has_segments) and not all(has_segments):
        # mixing is possible (whole-file utterances become segments) but never needed so far
        raise DataDirError("combine: some directories have 'segments' and others do not")
    return DataDir(
        wav_scp=merged(lambda d: d.wav_scp, "wav.scp", True),
        utt2spk=merged(lambda d: d.utt2spk, "utt2spk", True),
        text=merged(lambda d: d.text, "text", True),
        segments=merged(lambda d: d.segments, "segments"),
        utt2lang=merged(lambda d: d.utt2lang, "utt2lang", True),
        translations={
            lang: merged(lambda d, lang=lang: d.translations.get(lang, {}), f"text.{lang}")
            for lang in langs
        },
        wav_tgt=merged(lambda d: d.wav_tgt, "wav_tgt.scp"),
        utt2dur=merged(lambda d: d.utt2dur, "utt2dur") if has_dur else None,
        extra={n: merged(lambda d, n=n: d.extra.get(n, {}), n) for n in extras},
    )
