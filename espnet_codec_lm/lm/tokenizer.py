"""Text tokenizers behind one interface: a Hugging Face tokenizer or a toolkit-trained BPE model.

Two kinds, one API (:class:`TextTokenizer`):

* ``huggingface``: the base LLM's own tokenizer, loaded from a local directory with
  ``AutoTokenizer.from_pretrained`` (Qwen1.5's byte-level BPE in the paper). Never downloads.
* ``sentencepiece``: a BPE model trained by the toolkit on a text corpus
  (:func:`train_sentencepiece`), for small from-scratch models such as the mini recipe's, whose
  text vocabulary must stay small so that the softmax does not dominate the step time.

A tokenizer is saved as a directory holding ``text_tokenizer.json`` (``{"kind": ...}``) next to
the kind's own files; :func:`load_text_tokenizer` reads such a directory, a plain Hugging Face
tokenizer directory, or a bare sentencepiece ``.model`` file.

``vocab_size`` is the number of ids the tokenizer can produce (for Hugging Face tokenizers
``len(tokenizer)``, i.e. including added special tokens such as Qwen's ``<|endoftext|>``); it
must not exceed the base model's embedding rows (:class:`~espnet_codec_lm.lm.vocab.VocabLayout`
checks this). ``encode`` never adds special tokens: sequences are framed by the layout's
boundary tokens instead. Both kinds round-trip English and Mandarin text exactly (the
sentencepiece trainer uses identity normalisation and byte fallback, so full-width punctuation,
repeated spaces and characters unseen in training survive).
"""

from __future__ import annotations

import json
import re
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from pathlib import Path

from espnet_codec_lm.utils.fileio import atomic_open, atomic_write_text

#: name of the small JSON file that says which kind a tokenizer directory holds
META_NAME = "text_tokenizer.json"
SPM_MODEL_NAME = "spm.model"


class TokenizerError(ValueError):
    """A tokenizer could not be loaded or trained; the message names the path."""


class TextTokenizer(ABC):
    """Maps text to base-vocabulary ids and back. ``ids`` are plain Python ints."""

    kind: str = "abstract"

    @abstractmethod
    def encode(self, text: str) -> list[int]:
        """Text -> token ids, without any special/boundary tokens."""

    @abstractmethod
    def decode(self, ids: Sequence[int]) -> str:
        """Token ids -> text (exact inverse of :meth:`encode` on its outputs)."""

    @property
    @abstractmethod
    def vocab_size(self) -> int:
        """Number of ids this tokenizer can produce (all ids are in ``[0, vocab_size)``)."""

    @abstractmethod
    def _save_files(self, directory: Path) -> None:
        """Write the kind's own files into ``directory``."""

    def save(self, directory: str | Path) -> None:
        """Write the tokenizer into ``directory`` (created; existing files are replaced)."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        self._save_files(directory)
        meta = {"kind": self.kind, "vocab_size": self.vocab_size}
        atomic_write_text(directory / META_NAME, json.dumps(meta, indent=2) + "\n")

    @staticmethod
    def load(path: str | Path) -> TextTokenizer:
        """Same as :func:`load_text_tokenizer`."""
        return load_text_tokenizer(path)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(vocab_size={self.vocab_size})"


class HFTextTokenizer(TextTokenizer):
    """A Hugging Face tokenizer (e.g. the base LLM's) read from a local directory."""

    kind = "huggingface"

    def __init__(self, tokenizer) -> None:  # a transformers tokenizer object
        self.tokenizer = tokenizer

    @classmethod
    def from_dir(cls, directory: str | Path) -> HFTextTokenizer:
        directory = Path(directory)
        if not directory.is_dir():
            raise TokenizerError(f"{directory}: tokenizer directory not found")
        if not any((directory / n).is_file() for n in _HF_TOKENIZER_FILES):
            raise TokenizerError(
                f"{directory}: no Hugging Face tokenizer files ({', '.join(_HF_TOKENIZER_FILES)})"
            )
        from transformers import AutoTokenizer

        try:
            tok = AutoTokenizer.from_pretrained(str(directory), local_files_only=True)
        except Exception as e:  # transformers raises many kinds; keep one line
            msg = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise TokenizerError(f"{directory}: cannot load tokenizer: {msg}") from None
        return cls(tok)

    def encode(self, text: str) -> list[int]:
        return list(self.tokenizer.encode(text, add_special_tokens=False))

    def decode(self, ids: Sequence[int]) -> str:
        return self.tokenizer.decode(
            [int(i) for i in ids], skip_special_tokens=False, clean_up_tokenization_spaces=False
        )

    @property
    def vocab_size(self) -> int:
        # len() counts added tokens (Qwen: 151,643 BPE tokens + 3 special = 151,646)
        return len(self.tokenizer)

    def _save_files(self, directory: Path) -> None:
        self.tokenizer.save_pretrained(str(directory))


class SentencePieceTokenizer(TextTokenizer):
    """A sentencepiece model (BPE or unigram) trained by :func:`train_sentencepiece`."""

    kind = "sentencepiece"

    def __init__(self, model_file: str | Path) -> None:
        import sentencepiece as spm

        model_file = Path(model_file)
        if not model_file.is_file():
            raise TokenizerError(f"{model_file}: sentencepiece model not found")
        self.model_file = model_file
        self._model_bytes = model_file.read_bytes()
        self.sp = spm.SentencePieceProcessor()
        try:
            self.sp.LoadFromSerializedProto(self._model_bytes)
        except Exception:
            raise TokenizerError(f"{model_file}: not a sentencepiece model") from None

    def encode(self, text: str) -> list[int]:
        return list(self.sp.encode(text, out_type=int))

    def decode(self, ids: Sequence[int]) -> str:
        return self.sp.decode([int(i) for i in ids])

    @property
    def vocab_size(self) -> int:
        return int(self.sp.get_piece_size())

    def _save_files(self, directory: Path) -> None:
        with atomic_open(directory / SPM_MODEL_NAME, "wb") as f:
            f.write(self._model_bytes)


#: CJK unified ideographs (with extension A) and compatibility ideographs
_CJK_CHAR = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_HF_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.json")


def load_text_tokenizer(path: str | Path) -> TextTokenizer:
    """Load a tokenizer from a directory written by :meth:`TextTokenizer.save`, a plain Hugging
    Face tokenizer directory (e.g. a base LLM's), or a sentencepiece ``.model`` file."""
    path = Path(path)
    if path.is_file() and path.suffix == ".model":
        return SentencePieceTokenizer(path)
    if not path.exists():
        raise TokenizerError(f"{path}: tokenizer not found")
    if not path.is_dir():
        raise TokenizerError(f"{path}: expected a tokenizer directory or a .model file")
    meta_file = path / META_NAME
    if meta_file.is_file():
        try:
            kind = json.loads(meta_file.read_text(encoding="utf-8"))["kind"]
        except (json.JSONDecodeError, KeyError, TypeError):
            raise TokenizerError(f'{meta_file}: malformed (expected {{"kind": ...}})') from None
        if kind == SentencePieceTokenizer.kind:
            return SentencePieceTokenizer(path / SPM_MODEL_NAME)
        if kind == HFTextTokenizer.kind:
            return HFTextTokenizer.from_dir(path)
        raise TokenizerError(f"{meta_file}: unknown tokenizer kind {kind!r}")
    if any((path / n).is_file() for n in _HF_TOKENIZER_FILES):
        return HFTextTokenizer.from_dir(path)
    if (path / SPM_MODEL_NAME).is_file():
        return SentencePieceTokenizer(path / SPM_MODEL_NAME)
    raise TokenizerError(f"{path}: no tokenizer here (no {META_NAME}, tokenizer.json or .model)")


def has_tokenizer(path: str | Path) -> bool:
    """True when ``path`` looks like something :func:`load_text_tokenizer` can read."""
    path = Path(path)
    if path.is_file():
        return path.suffix == ".model"
    return path.is_dir() and any(
        (path / n).is_file() for n in (META_NAME, SPM_MODEL_NAME, *_HF_TOKENIZER_FILES)
    )


def train_sentencepiece(
    corpus: str | Path | Iterable[str],
    out_dir: str | Path,
    vocab_size: int,
    model_type: str = "bpe",
    character_coverage: float = 1.0,
    byte_fallback: bool = True,
    max_sentences: int = 2_000_000,
    seed_sentencepiece_size: int = 1_000_000,
    num_threads: int = 1,
    cjk_chars: bool = False,
) -> SentencePieceTokenizer:
    """Train a sentencepiece model on ``corpus`` (a text file, one sentence a line, or an
    iterable of sentences) and save it as a tokenizer directory ``out_dir``.

    Identity normalisation and kept whitespace make decoding the exact inverse of encoding;
    ``character_coverage=1.0`` keeps every Mandarin character of the corpus as a piece and
    ``byte_fallback`` spells unseen characters as UTF-8 bytes instead of ``<unk>``. When the
    corpus is too small for ``vocab_size`` the vocabulary is smaller (soft limit), never an
    error. Deterministic for a given corpus (single thread).

    ``cjk_chars``: every CJK character of the corpus becomes a piece of its own that BPE never
    merges (sentencepiece's ``user_defined_symbols``). Sentencepiece does not split a run of CJK
    characters (there are no spaces), so on a small corpus plain BPE learns whole phrases (up to 9
    characters, most seen a handful of times); one piece per character is what Mandarin ASR
    systems score and what a small model learns fastest (doc/mini_recipe.md). Decoding stays the
    exact inverse of encoding; unseen characters still fall back to bytes.
    """
    import sentencepiece as spm

    out_dir = Path(out_dir)
    if isinstance(corpus, (str, Path)):
        corpus_path = Path(corpus)
        if not corpus_path.is_file():
            raise TokenizerError(f"{corpus_path}: corpus file not found")
        if corpus_path.stat().st_size == 0:
            raise TokenizerError(f"{corpus_path}: corpus file is empty")
        sentences: Iterable[str] | None = None
    else:
        corpus_path = None
        sentences = [s for s in corpus if s.strip()]
        if not sentences:
            raise TokenizerError(f"{out_dir}: empty corpus given to train_sentencepiece")
    if vocab_size < 8:
        raise TokenizerError(f"{out_dir}: vocab_size {vocab_size} is too small")
    symbols: list[str] = []
    if cjk_chars:
        if sentences is None:
            sentences = corpus_path.read_text(encoding="utf-8").splitlines()
            corpus_path = None
        symbols = sorted({c for s in sentences for c in _CJK_CHAR.findall(s)})
        if len(symbols) + 3 + 256 * byte_fallback >= vocab_size:
            raise TokenizerError(
                f"{out_dir}: vocab_size {vocab_size} leaves no room beside the corpus' "
                f"{len(symbols)} CJK characters (cjk_chars)"
            )

    with tempfile.TemporaryDirectory() as tmp:
        if corpus_path is None:
            corpus_path = Path(tmp) / "corpus.txt"
            corpus_path.write_text(
                "".join(s.replace("\n", " ") + "\n" for s in sentences), encoding="utf-8"
            )
        prefix = Path(tmp) / "spm"
        try:
            spm.SentencePieceTrainer.train(
                input=str(corpus_path),
                model_prefix=str(prefix),
                vocab_size=vocab_size,
                model_type=model_type,
                character_coverage=character_coverage,
                byte_fallback=byte_fallback,
                normalization_rule_name="identity",
                remove_extra_whitespaces=False,
                split_digits=True,
                hard_vocab_limit=False,
                input_sentence_size=max_sentences,
                shuffle_input_sentence=True,
                seed_sentencepiece_size=seed_sentencepiece_size,
                num_threads=num_threads,
                unk_id=0,
                bos_id=1,
                eos_id=2,
                pad_id=-1,
                minloglevel=2,
                user_defined_symbols=symbols,
            )
        except RuntimeError as e:
            msg = str(e).splitlines()[-1] if str(e) else "training failed"
            raise TokenizerError(f"{corpus_path}: sentencepiece training failed: {msg}") from None
        tok = SentencePieceTokenizer(prefix.with_suffix(".model"))
        tok.save(out_dir)
    # re-read from the saved directory so the returned object points at a lasting file
    return SentencePieceTokenizer(out_dir / SPM_MODEL_NAME)
