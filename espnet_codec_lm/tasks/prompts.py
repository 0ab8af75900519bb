"""Prompt banks: natural-language task instructions, read from ``tasks/prompts/*.yaml``.

One YAML file per task (``task: <name>``) holds a ``cpt`` and/or an ``sft`` section, each with an
``en`` and a ``zh`` part. CPT parts are plain lists of declaratives; SFT parts are split by form
(``declarative`` / ``interrogative`` / ``imperative``) so the mix is explicit and testable. The
``speaking_style`` file holds imperative style instructions for TTS / T2ST in the same layout
(plain lists for both stages). ``languages.yaml`` names each language in each prompt language; it
fills the ``{tgt_lang}`` slot of translation prompts (``"...into {tgt_lang}."`` -> ``"...into
Chinese."`` / ``"...翻译成中文。"``).

A bank directory can be replaced wholesale (``DataConfig.prompt_dir``) to use other prompts;
:meth:`PromptBank.problems` lists what is wrong with one (counts, forms, overlaps).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from espnet_codec_lm.config import ConfigError, read_yaml

PROMPT_DIR = Path(__file__).resolve().parent / "prompts"
LANGS = ("en", "zh")
SFT_FORMS = ("declarative", "interrogative", "imperative")
STYLE_TASK = "speaking_style"
SLOT = "{tgt_lang}"
_CJK = re.compile(r"[\u4e00-\u9fff]")


@dataclass(frozen=True)
class Prompt:
    """One prompt of a bank; ``text`` may contain the ``{tgt_lang}`` slot."""

    text: str
    task: str
    stage: str
    lang: str
    form: str

    def render(self, lang_names: dict[str, dict[str, str]], tgt_lang: str | None = None) -> str:
        """The prompt with ``{tgt_lang}`` filled by the target language's name in ``self.lang``."""
        if SLOT not in self.text:
            return self.text
        if tgt_lang is None:
            raise ValueError(f"prompt {self.text!r} needs a target language")
        try:
            name = lang_names[self.lang][tgt_lang]
        except KeyError:
            raise ValueError(
                f"no name for language {tgt_lang!r} in {self.lang!r} prompts"
            ) from None
        return self.text.replace(SLOT, name)


def _strings(value: object, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ConfigError(f"{where}: expected a list of non-empty strings")
    return [v.strip() for v in value]


class PromptBank:
    """All prompts of a bank directory, indexed by ``(task, stage, lang)``."""

    def __init__(self, prompts: list[Prompt], lang_names: dict[str, dict[str, str]]) -> None:
        self.prompts = prompts
        self.lang_names = lang_names
        self._index: dict[tuple[str, str, str], list[Prompt]] = {}
        for p in prompts:
            self._index.setdefault((p.task, p.stage, p.lang), []).append(p)

    @classmethod
    def load(cls, directory: str | Path | None = None) -> PromptBank:
        """Read every ``*.yaml`` of ``directory`` (default: the packaged banks)."""
        directory = Path(directory) if directory else PROMPT_DIR
        if not directory.is_dir():
            raise ConfigError(f"{directory}: prompt bank directory not found")
        prompts: list[Prompt] = []
        lang_names: dict[str, dict[str, str]] = {}
        for path in sorted(directory.glob("*.yaml")):
            data = read_yaml(path)
            if path.name == "languages.yaml":
                lang_names = {
                    str(k): {str(a): str(b) for a, b in v.items()} for k, v in data.items()
                }
                continue
            task = data.get("task")
            if not isinstance(task, str):
                raise ConfigError(f"{path}: missing 'task: <name>'")
            unknown = set(data) - {"task", "cpt", "sft"}
            if unknown:
                raise ConfigError(f"{path}: unknown section(s) {sorted(unknown)}")
            for stage in ("cpt", "sft"):
                for lang, part in (data.get(stage) or {}).items():
                    where = f"{path}: {stage}.{lang}"
                    if isinstance(part, dict):  # split by form
                        for form, texts in part.items():
                            if form not in SFT_FORMS:
                                raise ConfigError(f"{where}: unknown form {form!r}")
                            for t in _strings(texts, f"{where}.{form}"):
                                prompts.append(Prompt(t, task, stage, str(lang), form))
                    else:
                        form = "imperative" if task == STYLE_TASK else "declarative"
                        for t in _strings(part, where):
                            prompts.append(Prompt(t, task, stage, str(lang), form))
        if not lang_names:
            raise ConfigError(f"{directory}: languages.yaml missing or empty")
        return cls(prompts, lang_names)

    def get(self, task: str, stage: str, lang: str) -> list[Prompt]:
        """The prompts of ``task`` for ``stage`` in ``lang`` (bank order)."""
        try:
            return self._index[(task, stage, lang)]
        except KeyError:
            raise ValueError(f"no {stage} prompts in {lang!r} for task {task!r}") from None

    def has(self, task: str, stage: str) -> bool:
        return all((task, stage, lang) in self._index for lang in LANGS)

    @property
    def tasks(self) -> list[str]:
        return sorted({p.task for p in self.prompts})

    def all_texts(self) -> list[str]:
        """Every prompt rendered for every target language (e.g. to train a text tokenizer on)."""
        out = []
        for p in self.prompts:
            if SLOT in p.text:
                out.extend(p.render(self.lang_names, t) for t in self.lang_names[p.lang])
            else:
                out.append(p.text)
        return out

    def problems(self, per_lang: int = 25) -> list[str]:
        """Everything wrong with the bank: counts, forms, languages, slots, overlaps."""
        out: list[str] = []
        keys = sorted(self._index)
        for task, stage, lang in keys:
            ps = self._index[(task, stage, lang)]
            tag = f"{task}/{stage}/{lang}"
            if len(ps) != per_lang:
                out.append(f"{tag}: {len(ps)} prompts, expected {per_lang}")
            if stage == "sft" and task != STYLE_TASK:
                forms = {p.form for p in ps}
                if forms != set(SFT_FORMS):
                    out.append(f"{tag}: SFT forms {sorted(forms)}, expected all of {SFT_FORMS}")
            if stage == "cpt" and task != STYLE_TASK and any(p.form != "declarative" for p in ps):
                out.append(f"{tag}: CPT prompts must be declaratives")
            slots = {p.text.count(SLOT) for p in ps}
            if len(slots) != 1 or slots.pop() > 1:
                out.append(f"{tag}: every prompt needs the same number (0 or 1) of {SLOT}")
            for p in ps:
                out.extend(f"{tag}: {p.text!r}: {e}" for e in _form_problems(p))
        for task in self.tasks:
            cpt = {p.text for p in self.prompts if p.task == task and p.stage == "cpt"}
            sft = {p.text for p in self.prompts if p.task == task and p.stage == "sft"}
            out.extend(f"{task}: {t!r} is in both CPT and SFT" for t in sorted(cpt & sft))
        seen: dict[str, Prompt] = {}
        for p in self.prompts:
            if p.text in seen:
                q = seen[p.text]
                out.append(f"{p.task}/{p.stage}/{p.lang}: {p.text!r} duplicates {q.task}/{q.stage}")
            seen[p.text] = p
        return out


def _form_problems(p: Prompt) -> list[str]:
    """Surface checks of a prompt's form and language (a grammar check is beyond a test)."""
    out = []
    has_cjk = bool(_CJK.search(p.text.replace(SLOT, "")))
    if p.lang == "zh" and not has_cjk:
        out.append("a Mandarin prompt without Chinese characters")
    if p.lang == "en" and (has_cjk or not p.text.isascii()):
        out.append("an English prompt with non-ASCII characters")
    end = p.text[-1]
    if p.form == "interrogative":
        if end not in "?？":
            out.append("an interrogative must end with ? / ？")
    elif end not in ".。":
        out.append(f"a {p.form} must end with . / 。")
    if p.lang == "en":
        first = p.text.split()[0].strip(",")
        if p.form == "imperative" and first not in IMPERATIVE_VERBS:
            out.append(f"an imperative should start with a verb or 'Please', not {first!r}")
        if p.form != "imperative" and first in IMPERATIVE_VERBS:
            out.append(f"a {p.form} starts with the imperative {first!r}")
    return out


#: first words of English imperatives in the banks (and words a declarative must not start with)
IMPERATIVE_VERBS = frozenset(
    "Please Continue Keep Finish Extend Generate Carry Complete Transcribe Write Convert Type "
    "Recognize Turn Provide Read Synthesize Speak Say Voice Produce Translate Render Give Express "
    "Add Use Imitate Match Sound Adopt Follow Mimic Copy Talk Reproduce Take Deliver Mirror Make "
    "Clone Preserve Let Retain Model Tell Repeat Predict".split()
)


class TokenizedPrompts:
    """Prompts tokenised once per ``(task, stage, lang, tgt_lang)``; sampling is then a lookup."""

    def __init__(self, bank: PromptBank, tokenizer) -> None:
        self.bank = bank
        self.tokenizer = tokenizer
        self._cache: dict[tuple, list[np.ndarray]] = {}

    def variants(self, task: str, stage: str, lang: str, tgt_lang: str | None) -> list[np.ndarray]:
        key = (task, stage, lang, tgt_lang)
        if key not in self._cache:
            ps = self.bank.get(task, stage, lang)
            self._cache[key] = [
                np.asarray(
                    self.tokenizer.encode(p.render(self.bank.lang_names, tgt_lang)), np.int64
                )
                for p in ps
            ]
        return self._cache[key]

    def sample(
        self,
        task: str,
        stage: str,
        lang: str,
        rng: np.random.Generator,
        tgt_lang: str | None = None,
        index: int | None = None,
    ) -> tuple[np.ndarray, int]:
        """Token ids of one prompt (random, or bank entry ``index``) and the index used."""
        vs = self.variants(task, stage, lang, tgt_lang)
        i = int(rng.integers(len(vs))) if index is None else int(index) % len(vs)
        return vs[i], i
