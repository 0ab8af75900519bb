"""What scoring reads: a decode directory (doc/design.md, "Decoding outputs") and the Kaldi data
directory with the references.

A decode dir holds ``meta.yaml`` and either ``text`` (text targets) or ``sample_<k>/`` folders
(``wav.scp`` for speech targets; ``text`` is also accepted there for sampled text outputs).
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import yaml

from espnet_codec_lm.metrics.audio import read_table

TEXT_TASKS = ("asr", "s2tt")
SPEECH_TASKS = ("tts", "s2st", "t2st")
SCORED_TASKS = TEXT_TASKS + SPEECH_TASKS


@dataclasses.dataclass
class DecodeDir:
    """A parsed decode directory."""

    path: Path
    meta: dict[str, Any]
    task: str
    test_set: str
    src_lang: str | None
    tgt_lang: str | None
    samples: list[tuple[int, Path]]  # (k, folder holding this sample's outputs)

    @property
    def num_samples(self) -> int:
        return len(self.samples)

    @property
    def target_is_speech(self) -> bool:
        return self.task in SPEECH_TASKS

    def hyp_file(self, folder: Path) -> Path:
        return folder / ("wav.scp" if self.target_is_speech else "text")


def read_decode_dir(path: str | Path) -> DecodeDir:
    """Parse ``meta.yaml`` and find the sample folders; errors name the file."""
    path = Path(path)
    meta_path = path / "meta.yaml"
    if not meta_path.is_file():
        raise ValueError(f"{meta_path}: not found (is {path} a decode directory?)")
    try:
        meta = yaml.safe_load(meta_path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as e:
        raise ValueError(f"{meta_path}: malformed YAML: {str(e).splitlines()[0]}") from None
    if not isinstance(meta, dict) or "task" not in meta:
        raise ValueError(f"{meta_path}: must be a mapping with a 'task' key")
    task = str(meta["task"]).lower()
    if task not in SCORED_TASKS:
        raise ValueError(f"{meta_path}: task '{task}' is not scored (scored: {list(SCORED_TASKS)})")
    test_set = meta.get("test_set")
    if not test_set:
        m = re.match(rf"decode_{task}_(.+)$", path.name)
        test_set = m.group(1) if m else path.name
    sample_dirs = sorted(
        (int(p.name.split("_", 1)[1]), p)
        for p in path.glob("sample_*")
        if p.is_dir() and re.fullmatch(r"sample_\d+", p.name)
    )
    dd = DecodeDir(
        path=path,
        meta=meta,
        task=task,
        test_set=str(test_set),
        src_lang=meta.get("src_lang"),
        tgt_lang=meta.get("tgt_lang"),
        samples=sample_dirs or [(0, path)],
    )
    expected = meta.get("num_samples")
    if sample_dirs and expected is not None and int(expected) != len(sample_dirs):
        raise ValueError(
            f"{meta_path}: num_samples is {expected} but {len(sample_dirs)} sample_<k>/ folders "
            "exist (decoding incomplete?)"
        )
    ks = [k for k, _ in sample_dirs]
    if sample_dirs and ks != list(range(len(ks))):
        raise ValueError(f"{path}: sample folders are not numbered 0..N-1: {ks}")
    for _, folder in dd.samples:
        f = dd.hyp_file(folder)
        if not f.is_file():
            raise ValueError(f"{f}: not found (task {task} writes its outputs there)")
    return dd


class References:
    """The Kaldi data directory a test set was decoded from (references, languages, speech)."""

    def __init__(self, data_dir: str | Path) -> None:
        self.path = Path(data_dir)
        if not (self.path / "text").is_file() and not list(self.path.glob("text.*")):
            raise ValueError(f"{self.path}: not a data directory (no text / text.<lang>)")
        self._cache: dict[str, dict[str, str]] = {}

    def table(self, name: str) -> dict[str, str]:
        if name not in self._cache:
            f = self.path / name
            if not f.is_file():
                raise ValueError(f"{f}: not found")
            self._cache[name] = read_table(f)
        return self._cache[name]

    def has(self, name: str) -> bool:
        return (self.path / name).is_file()

    def files(self, names: list[str]) -> list[Path]:
        return [self.path / n for n in names if self.has(n)]

    def utt_langs(self, ids: list[str], default: str | None, what: str) -> dict[str, str]:
        """Language of each utterance: ``default`` (from meta.yaml) or ``utt2lang``."""
        if default:
            return dict.fromkeys(ids, str(default))
        if not self.has("utt2lang"):
            raise ValueError(
                f"{self.path}: no utt2lang and meta.yaml gives no {what}: cannot tell the language"
            )
        u2l = self.table("utt2lang")
        missing = [u for u in ids if u not in u2l]
        if missing:
            raise ValueError(f"{self.path / 'utt2lang'}: no language for utterance '{missing[0]}'")
        return {u: u2l[u] for u in ids}


def reference_spec(dd: DecodeDir) -> tuple[str, str | None]:
    """(data-dir file holding the reference text, its language or None for ``utt2lang``).

    ASR and TTS are monolingual: the reference is the transcript ``text`` in the utterance's own
    language. S2TT, S2ST and T2ST score against the translation ``text.<tgt_lang>``.
    """
    if dd.task in ("asr", "tts"):
        return "text", dd.src_lang or dd.tgt_lang
    if not dd.tgt_lang:
        raise ValueError(f"{dd.path / 'meta.yaml'}: task {dd.task} needs tgt_lang")
    return f"text.{dd.tgt_lang}", dd.tgt_lang
