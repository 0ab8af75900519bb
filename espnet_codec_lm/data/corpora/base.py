"""What every real-corpus preparer shares: options, subset names, text hooks, atomic output.

A preparer reads a corpus in its published layout and builds one :class:`DataDir` per subset;
:func:`write_subset` then writes it to ``out/<subset>/`` atomically (a temporary directory renamed
into place), with a ``.done`` marker holding a fingerprint of (corpus, source, options). A rerun
with the same fingerprint skips the subset; a different one rewrites it. Audio is never copied
or converted: ``wav.scp`` points at the corpus's own files (FLAC, WAV, MP3, Opus, SPHERE), which
the data layer decodes and resamples when a stage reads them.

Options are one dataclass per corpus, read from ``--config`` (YAML) plus ``key=value``
overrides, so unknown keys are errors. The shared text hooks (``punctuation``, ``translation``)
are :class:`espnet_codec_lm.data.hooks.HookConfig` sections; both default to ``identity``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import shutil
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from espnet_codec_lm.config import ConfigError, load_config
from espnet_codec_lm.data.data_dir import DataDir, combine_data_dirs, read_data_dir, write_data_dir
from espnet_codec_lm.data.hooks import load_punctuator, load_translator
from espnet_codec_lm.data.kaldi_io import DataDirError
from espnet_codec_lm.utils.fileio import atomic_write_text

log = logging.getLogger(__name__)

T = TypeVar("T")
DONE = ".done"
#: bump when a preparer's output format changes, so old ``.done`` markers stop matching
FORMAT_VERSION = 1


def load_options(
    cls: type[T], corpus: str, config: str | Path | None, overrides: Sequence[str]
) -> T:
    """The corpus options from a YAML file and/or ``key=value`` overrides (typed, checked)."""
    try:
        return load_config(cls, config, list(overrides))
    except ConfigError as e:
        raise ValueError(f"{corpus}: {e}") from None


def dirname(subset: str) -> str:
    """Data directory name of a published subset: ``test-clean`` -> ``test_clean``."""
    return subset.replace("-", "_").replace(".", "_")


def pick_subsets(
    corpus: str, asked: Sequence[str] | None, known: Sequence[str], present: Sequence[str]
) -> list[str]:
    """Subsets to prepare: those asked for (each must be known and present), else all present."""
    if asked:
        for s in asked:
            if s not in known:
                raise ValueError(f"{corpus}: unknown subset '{s}' (known: {', '.join(known)})")
            if s not in present:
                raise ValueError(f"{corpus}: subset '{s}' not found in the corpus on disk")
        return list(asked)
    if not present:
        raise ValueError(f"{corpus}: no subset found on disk (looked for {', '.join(known)})")
    return [s for s in known if s in present]


def need_dir(path: Path, corpus: str, what: str = "corpus root") -> Path:
    """``path`` if it is a directory, else a one-line error."""
    if path is None:
        raise ValueError(f"{corpus}: --src is required (the {what})")
    if not Path(path).is_dir():
        raise ValueError(f"{corpus}: {path}: {what} not found")
    return Path(path)


def need_file(path: Path, corpus: str) -> Path:
    """``path`` if it is a file, else a one-line error naming it."""
    if not Path(path).is_file():
        raise DataDirError(f"{corpus}: {path}: file not found")
    return Path(path)


def fingerprint(corpus: str, src: Path | None, options: Any, subset: str) -> str:
    """What a prepared subset depends on; stored in its ``.done`` marker."""
    blob = {
        "corpus": corpus,
        "src": str(Path(src).resolve()) if src is not None else None,
        "options": dataclasses.asdict(options) if dataclasses.is_dataclass(options) else options,
        "subset": subset,
        "format": FORMAT_VERSION,
    }
    return hashlib.sha256(json.dumps(blob, sort_keys=True, default=str).encode()).hexdigest()[:16]


def is_done(out: Path, name: str, key: str) -> bool:
    """True when ``out/name`` was prepared with fingerprint ``key``."""
    marker = Path(out) / name / DONE
    return marker.is_file() and marker.read_text().strip() == key


def count_utts(out: Path, name: str) -> int:
    """Utterances of a prepared data dir (lines of its ``utt2spk``)."""
    with (Path(out) / name / "utt2spk").open(encoding="utf-8") as f:
        return sum(1 for line in f if line.strip())


def write_subset(dd: DataDir, out: Path, name: str, key: str) -> Path:
    """Write ``dd`` to ``out/name`` atomically (temporary dir + rename) with its ``.done``."""
    if len(dd) == 0:
        raise DataDirError(f"{out}/{name}: no utterances to write (empty subset)")
    out = Path(out)
    target = out / name
    tmp = out / f".{name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    write_data_dir(dd, tmp)
    atomic_write_text(tmp / DONE, key + "\n")
    old = out / f".{name}.old-{os.getpid()}"
    if target.exists():
        os.replace(target, old)
    os.replace(tmp, target)
    shutil.rmtree(old, ignore_errors=True)
    log.info("wrote %s: %d utterances, %d speakers", target, len(dd), len(dd.spk2utt()))
    return target


def once(load: Callable[[], T]) -> Callable[[], T]:
    """``load`` run at most once, whichever of ``prepare_subsets``' threads asks first (the others
    wait for it): for what several subsets of a corpus share, e.g. a metadata file read once."""
    lock, box = threading.Lock(), []

    def get() -> T:
        with lock:
            if not box:
                box.append(load())
            return box[0]

    return get


def prepare_subsets(
    corpus: str,
    src: Path | None,
    out: Path,
    names: dict[str, str],
    options: Any,
    build: Callable[[str], DataDir],
    nj: int = 1,
) -> dict[str, int]:
    """For each ``{subset: dir name}``: skip it when done with these options, else
    ``build(subset)`` and write it. Returns ``{dir name: utterances}``.

    ``nj > 1`` builds up to ``nj`` subsets at once in threads (reading a corpus' transcript
    and metadata files is I/O-bound; each subset is written atomically on its own, so an error
    in one leaves the others whole and the next run redoes only what is missing)."""
    result: dict[str, int] = {}
    todo: list[tuple[str, str, str]] = []
    for subset, name in names.items():
        key = fingerprint(corpus, src, options, subset)
        if is_done(out, name, key):
            result[name] = count_utts(out, name)
            log.info("%s/%s: already prepared (%d utterances); skipping", out, name, result[name])
        else:
            todo.append((subset, name, key))

    def one(item: tuple[str, str, str]) -> int:
        subset, name, key = item
        dd = build(subset)
        write_subset(dd, out, name, key)
        return len(dd)

    workers = max(1, min(nj, len(todo)))
    if workers == 1:
        counts = [one(item) for item in todo]
    else:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            counts = list(pool.map(one, todo))
    for (_, name, _), n in zip(todo, counts):
        result[name] = n
    return {name: result[name] for name in names.values()}


def combine_subsets(
    corpus: str, src: Path | None, out: Path, combine: dict[str, list[str]], options: Any
) -> dict[str, int]:
    """Write each ``{name: [prepared dir names]}`` as the union of those dirs (e.g. LibriSpeech's
    ``train_960``). The fingerprint includes the parts' own, so a redone part redoes the union."""
    result: dict[str, int] = {}
    for name, parts in combine.items():
        if not parts:
            raise ValueError(f"{corpus}: combine.{name}: no parts given")
        missing = [p for p in parts if not (Path(out) / p / DONE).is_file()]
        if missing:
            raise ValueError(f"{corpus}: combine.{name}: {out}/{missing[0]} is not prepared")
        part_keys = [(Path(out) / p / DONE).read_text().strip() for p in parts]
        key = fingerprint(corpus, src, options, f"combine:{name}:{','.join(part_keys)}")

        if is_done(out, name, key):
            result[name] = count_utts(out, name)
            log.info("%s/%s: already combined; skipping", out, name)
            continue
        dd = combine_data_dirs([read_data_dir(Path(out) / p) for p in parts])
        write_subset(dd, out, name, key)
        result[name] = len(dd)
    return result


def apply_punctuation(text: dict[str, str], lang: str, hook: Any) -> dict[str, str]:
    """Restore punctuation of every transcript with the hook (``identity`` changes nothing)."""
    if hook is None or getattr(hook, "kind", "identity") == "identity" or not text:
        return text
    punctuate = load_punctuator(hook)
    ids = sorted(text)
    outs = punctuate([text[u] for u in ids], lang)
    if len(outs) != len(ids):
        raise ValueError(f"punctuation hook returned {len(outs)} texts for {len(ids)}")
    return {u: (o.strip() or text[u]) for u, o in zip(ids, outs)}


def apply_translation(
    text: dict[str, str], src_lang: str, tgt_lang: str, hook: Any
) -> dict[str, str]:
    """Translations of ``text`` by the MT hook; utterances it leaves untranslated are absent."""
    if hook is None or getattr(hook, "kind", "identity") == "identity" or not text:
        return {}
    translate = load_translator(hook)
    ids = sorted(text)
    outs = translate([text[u] for u in ids], src_lang, tgt_lang)
    if len(outs) != len(ids):
        raise ValueError(f"translation hook returned {len(outs)} texts for {len(ids)}")
    return {u: o.strip() for u, o in zip(ids, outs) if o and o.strip()}


def one_line(text: str) -> str:
    """Collapse whitespace (tabs, newlines) so a transcript fits one Kaldi line."""
    return " ".join(text.split())


def make_data_dir(
    wav_scp: dict[str, str],
    utt2spk: dict[str, str],
    text: dict[str, str],
    lang: str | dict[str, str],
    translations: dict[str, dict[str, str]] | None = None,
    **kw: Any,
) -> DataDir:
    """A :class:`DataDir` with ``utt2lang`` filled from ``lang`` (one language or per utt)."""
    utt2lang = dict.fromkeys(utt2spk, lang) if isinstance(lang, str) else dict(lang)
    return DataDir(
        wav_scp=wav_scp,
        utt2spk=utt2spk,
        text=text,
        utt2lang=utt2lang,
        translations={k: v for k, v in (translations or {}).items() if v},
        **kw,
    )
