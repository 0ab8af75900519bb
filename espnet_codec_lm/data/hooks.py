"""Pluggable text hooks: punctuation restoration and machine translation of transcripts.

Both default to doing nothing: ``identity`` punctuation returns the transcript unchanged, and the
``identity`` translator translates nothing (it returns ``None``, so an utterance without a
``text.<lang>`` file entry simply has no translation and is not used for S2TT / T2ST). Real models
plug in by *local path*, never by download:

``kind: hf``
    punctuation: a Hugging Face token-classification model directory whose labels follow the
    ``bert-restore-punctuation`` convention (the paper's model): two characters, the punctuation
    to append after the word (``O`` = none; ``.``, ``,``, ``?``, ``!``, ``:``, ``;``, ``-``,
    ``'``) and the casing (``U`` = capitalise, ``O`` = keep), e.g. ``.U``, ``OO``.
    Mandarin text is labelled per character.
    translation: a Hugging Face seq2seq model directory (``AutoModelForSeq2SeqLM``, e.g. a Marian
    opus-mt model); ``{src}`` / ``{tgt}`` in ``path`` select a per-direction model
    (``/models/opus-mt-{src}-{tgt}``).
``kind: python``
    ``path: "package.module:function"`` or ``path: "/abs/file.py:function"``: any callable with
    the batch signature below (wrap a server, an in-house system, a rule set...).

Signatures (batches, so a model can run efficiently)::

    punctuate(texts: list[str], lang: str) -> list[str]
    translate(texts: list[str], src_lang: str, tgt_lang: str) -> list[str | None]
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Punctuator = Callable[[list[str], str], list[str]]
Translator = Callable[[list[str], str, str], list["str | None"]]


@dataclass
class HookConfig:
    """Which model a hook uses; ``identity`` (the default) changes nothing."""

    kind: Literal["identity", "hf", "python"] = "identity"
    path: str | None = None  # hf: local model directory; python: "module:function"
    device: str = "cpu"
    batch_size: int = 16
    num_beams: int = 4  # translation only
    max_new_tokens: int = 256  # translation only


def identity_punctuator(texts: list[str], lang: str) -> list[str]:
    """Punctuation restoration that keeps every transcript as it is."""
    return list(texts)


def identity_translator(texts: list[str], src_lang: str, tgt_lang: str) -> list[str | None]:
    """Translation that translates nothing (no translation, rather than a wrong one)."""
    return [None] * len(texts)


def load_python_hook(spec: str) -> Callable:
    """``"module:function"`` or ``"/path/file.py:function"`` -> the callable."""
    if ":" not in spec:
        raise ValueError(f"python hook {spec!r}: expected 'module:function' or 'file.py:function'")
    target, name = spec.rsplit(":", 1)
    if target.endswith(".py"):
        path = Path(target)
        if not path.is_file():
            raise ValueError(f"python hook {spec!r}: {path} not found")
        mod_spec = importlib.util.spec_from_file_location(f"_hook_{path.stem}", path)
        module = importlib.util.module_from_spec(mod_spec)
        mod_spec.loader.exec_module(module)
    else:
        module = importlib.import_module(target)
    fn = getattr(module, name, None)
    if not callable(fn):
        raise ValueError(f"python hook {spec!r}: {name} is not a callable in {target}")
    return fn


def _need_dir(path: str | None, what: str) -> Path:
    if not path or not Path(path).is_dir():
        raise ValueError(
            f"{what}: model directory {path!r} not found (hooks load local paths only)"
        )
    return Path(path)


class HFPunctuator:
    """Token-classification punctuation restoration (labels like ``.U``, ``,O``, ``OO``)."""

    def __init__(self, path: str, device: str = "cpu", batch_size: int = 16) -> None:
        d = _need_dir(path, "punctuation hook")
        from transformers import AutoModelForTokenClassification, AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(d)
        self.model = AutoModelForTokenClassification.from_pretrained(d).to(device).eval()
        self.device, self.batch_size = device, batch_size
        self.id2label = {int(k): str(v) for k, v in self.model.config.id2label.items()}

    def __call__(self, texts: list[str], lang: str) -> list[str]:
        import torch

        out: list[str] = []
        for i in range(0, len(texts), self.batch_size):
            batch = texts[i : i + self.batch_size]
            words = [list(t.replace(" ", "")) if lang == "zh" else t.split() for t in batch]
            enc = self.tokenizer(
                words, is_split_into_words=True, return_tensors="pt", padding=True, truncation=True
            )
            with torch.no_grad():
                pred = self.model(**enc.to(self.device)).logits.argmax(-1).cpu()
            for b, ws in enumerate(words):
                labels: dict[int, str] = {}
                for tok, wid in enumerate(enc.word_ids(b)):
                    if wid is not None and wid not in labels:
                        labels[wid] = self.id2label[int(pred[b, tok])]
                pieces = []
                for w_i, w in enumerate(ws):
                    lab = labels.get(w_i, "OO")
                    punct, case = (lab[0], lab[1]) if len(lab) == 2 else ("O", "O")
                    if case == "U":
                        w = w[:1].upper() + w[1:]
                    pieces.append(w + ("" if punct == "O" else punct))
                out.append(("" if lang == "zh" else " ").join(pieces))
        return out


class HFTranslator:
    """Seq2seq translation; ``{src}`` / ``{tgt}`` in the path pick a model per direction."""

    def __init__(self, cfg: HookConfig) -> None:
        self.cfg = cfg
        self._models: dict[str, tuple] = {}

    def _load(self, src: str, tgt: str):
        path = str(self.cfg.path).format(src=src, tgt=tgt)
        if path not in self._models:
            d = _need_dir(path, "translation hook")
            from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

            tok = AutoTokenizer.from_pretrained(d)
            model = AutoModelForSeq2SeqLM.from_pretrained(d).to(self.cfg.device).eval()
            self._models[path] = (tok, model)
        return self._models[path]

    def __call__(self, texts: list[str], src_lang: str, tgt_lang: str) -> list[str | None]:
        import torch

        tok, model = self._load(src_lang, tgt_lang)
        out: list[str | None] = []
        for i in range(0, len(texts), self.cfg.batch_size):
            enc = tok(texts[i : i + self.cfg.batch_size], return_tensors="pt", padding=True)
            with torch.no_grad():
                gen = model.generate(
                    **enc.to(self.cfg.device),
                    num_beams=self.cfg.num_beams,
                    max_new_tokens=self.cfg.max_new_tokens,
                )
            out.extend(s.strip() or None for s in tok.batch_decode(gen, skip_special_tokens=True))
        return out


def load_punctuator(cfg: HookConfig) -> Punctuator:
    """The punctuation hook ``cfg`` describes."""
    if cfg.kind == "identity":
        return identity_punctuator
    if cfg.kind == "python":
        return load_python_hook(cfg.path or "")
    return HFPunctuator(cfg.path, cfg.device, cfg.batch_size)


def load_translator(cfg: HookConfig) -> Translator:
    """The translation hook ``cfg`` describes."""
    if cfg.kind == "identity":
        return identity_translator
    if cfg.kind == "python":
        return load_python_hook(cfg.path or "")
    if not cfg.path:
        raise ValueError("translation hook: kind hf needs a path")
    return HFTranslator(cfg)
