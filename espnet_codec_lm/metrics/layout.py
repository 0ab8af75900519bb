"""What scoring reads: a decode directory (doc/design.md, "Decoding outputs") and the Kaldi data
directory with the references.

A decode dir holds ``meta.yaml`` and either ``text`` (text targets) or ``sample_<k>/`` folders
(``wav.scp`` for speech targets; ``text`` is also accepted there for sampled text outputs).

How a task is scored is data, not code: the decoder writes the task template's ``scoring``
mapping into ``meta.yaml`` (:attr:`espnet_codec_lm.tasks.templates.TaskTemplate.scoring`), so a
newly registered task is scored with no edit here. A ``meta.yaml`` without it (hand-made, or
written before the mapping existed) falls back to :data:`DEFAULT_SCORING` for the paper's tasks.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import yaml

from espnet_codec_lm.metrics.audio import read_table


@dataclasses.dataclass(frozen=True)
class ScoringSpec:
    """How one task's outputs are scored.

    ``target``: the output's modality (``speech`` is first transcribed by the scoring ASR);
    ``reference``: the data dir's ``transcript`` (``text``) or ``translation``
    (``text.<tgt_lang>``); ``metric``: ``error_rate`` (WER, or CER for character languages) or
    ``bleu`` (``bleu`` / ``asr_bleu``); ``speaker_similarity``: compare the output's voice with the
    reference speech (tasks with a speaker prompt).
    """

    target: str
    reference: str
    metric: str
    speaker_similarity: bool = False

    def __post_init__(self) -> None:
        for name, value, allowed in (
            ("target", self.target, ("text", "speech")),
            ("reference", self.reference, ("transcript", "translation")),
            ("metric", self.metric, ("error_rate", "bleu")),
        ):
            if value not in allowed:
                raise ValueError(f"scoring.{name} must be one of {allowed}, got {value!r}")

    @classmethod
    def from_mapping(cls, m: Any, where: str) -> ScoringSpec:
        if not isinstance(m, dict):
            raise ValueError(f"{where}: scoring must be a mapping, got {type(m).__name__}")
        fields = dataclasses.fields(cls)
        unknown = set(m) - {f.name for f in fields}
        missing = [f.name for f in fields if f.default is dataclasses.MISSING and f.name not in m]
        if unknown or missing:
            raise ValueError(
                f"{where}: scoring mapping has unknown key(s) {sorted(unknown)}, lacks {missing}"
            )
        try:
            return cls(**m)
        except ValueError as e:
            raise ValueError(f"{where}: {e}") from None

    @property
    def target_is_speech(self) -> bool:
        return self.target == "speech"


#: the scoring of the paper's tasks, for a ``meta.yaml`` that does not carry its own (the same
#: mappings the task templates derive)
DEFAULT_SCORING: dict[str, ScoringSpec] = {
    "asr": ScoringSpec("text", "transcript", "error_rate"),
    "s2tt": ScoringSpec("text", "translation", "bleu"),
    "tts": ScoringSpec("speech", "transcript", "error_rate", speaker_similarity=True),
    "s2st": ScoringSpec("speech", "translation", "bleu"),
    "t2st": ScoringSpec("speech", "transcript", "bleu", speaker_similarity=True),
}


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
    scoring: ScoringSpec

    @property
    def num_samples(self) -> int:
        return len(self.samples)

    @property
    def target_is_speech(self) -> bool:
        return self.scoring.target_is_speech

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
    if meta.get("scoring") is not None:
        scoring = ScoringSpec.from_mapping(meta["scoring"], str(meta_path))
    elif task in DEFAULT_SCORING:
        scoring = DEFAULT_SCORING[task]
    else:
        raise ValueError(
            f"{meta_path}: task '{task}' is not scored (no 'scoring' mapping; known without one: "
            f"{list(DEFAULT_SCORING)})"
        )
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
        scoring=scoring,
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

    A ``transcript`` reference is the data dir's ``text``, in the output's language (``tgt_lang``:
    ASR and TTS are monolingual; T2ST speaks the utterance's own language from its translation). A
    ``translation`` reference (S2TT, S2ST) is ``text.<tgt_lang>``.
    """
    if dd.scoring.reference == "transcript":
        return "text", dd.tgt_lang or dd.src_lang
    if not dd.tgt_lang:
        raise ValueError(f"{dd.path / 'meta.yaml'}: task {dd.task} needs tgt_lang")
    return f"text.{dd.tgt_lang}", dd.tgt_lang
