"""The extended vocabulary: text rows of the base LLM, then codec tokens, then boundary tokens.

Computed in one place from the base LLM's config and the codec's, never hard-coded. For
Qwen1.5-0.5B (embedding rows 151,936 = 151,643 text tokens + 293 padding rows) and a codec used
with 3 streams of 1,024 codes::

    [0, 151936)          text rows of the base model (tokenizer ids, then its padding rows)
    [151936, 152960)     codebook 1 codes      (stream 0)
    [152960, 153984)     codebook 2 codes      (stream 1)
    [153984, 155008)     codebook 3 codes      (stream 2)
    155008..155011       <speech_start> <speech_end> <text_start> <text_end>
    total                155,012

A sequence is a ``[T, n_streams]`` integer array. A text token or boundary token fills stream 0
and leaves the other streams at :data:`STREAM_PAD`; a speech frame fills stream ``k`` with the id
of its codebook-``k`` code. The model sums the embeddings of all non-pad streams of a position.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from espnet_codec_lm.utils.fileio import atomic_write_text, read_json_object

#: value of an unused stream at a text/boundary position (never a valid id)
STREAM_PAD = -1
#: label value ignored by the loss (PyTorch's cross-entropy default)
IGNORE_ID = -100

BOUNDARY_NAMES = ("speech_start", "speech_end", "text_start", "text_end")


@dataclass(frozen=True)
class VocabLayout:
    """Id ranges of the extended vocabulary; see the module docstring."""

    text_vocab_size: int  # ids the text tokenizer can produce
    text_rows: int  # embedding rows of the base model (>= text_vocab_size; padding rows after)
    num_streams: int  # L': codebooks used by the LM
    codebook_size: int
    num_extra_tokens: int = 0  # task tokens after the boundary tokens (none by default)

    def __post_init__(self) -> None:
        if self.text_rows < self.text_vocab_size:
            raise ValueError(
                f"base model has {self.text_rows} embedding rows but the tokenizer has "
                f"{self.text_vocab_size} tokens"
            )
        if self.num_streams < 1 or self.codebook_size < 2:
            raise ValueError(f"bad codec layout: {self.num_streams} streams x {self.codebook_size}")

    # --- ranges -----------------------------------------------------------------------------
    @property
    def codec_offset(self) -> int:
        return self.text_rows

    def codebook_offset(self, stream: int) -> int:
        """First id of codebook ``stream`` (0-based)."""
        if not 0 <= stream < self.num_streams:
            raise IndexError(f"stream {stream} outside [0, {self.num_streams})")
        return self.codec_offset + stream * self.codebook_size

    def codebook_range(self, stream: int) -> tuple[int, int]:
        start = self.codebook_offset(stream)
        return start, start + self.codebook_size

    @property
    def boundary_offset(self) -> int:
        return self.codec_offset + self.num_streams * self.codebook_size

    @property
    def speech_start(self) -> int:
        return self.boundary_offset

    @property
    def speech_end(self) -> int:
        return self.boundary_offset + 1

    @property
    def text_start(self) -> int:
        return self.boundary_offset + 2

    @property
    def text_end(self) -> int:
        return self.boundary_offset + 3

    @property
    def size(self) -> int:
        """Rows of the extended embedding and of the main LM head."""
        return self.boundary_offset + len(BOUNDARY_NAMES) + self.num_extra_tokens

    # --- conversions ------------------------------------------------------------------------
    def codes_to_ids(self, codes: np.ndarray) -> np.ndarray:
        """Codec indices ``[T, n]`` (n >= num_streams, values in [0, codebook_size)) -> vocab ids
        ``[T, num_streams]`` (int64). Extra codebooks beyond ``num_streams`` are dropped."""
        codes = np.asarray(codes)
        if codes.ndim != 2 or codes.shape[1] < self.num_streams:
            raise ValueError(f"codes must be [T, >={self.num_streams}], got shape {codes.shape}")
        codes = codes[:, : self.num_streams].astype(np.int64)
        if codes.size and (codes.min() < 0 or codes.max() >= self.codebook_size):
            raise ValueError(
                f"codes outside [0, {self.codebook_size}): min {codes.min()}, max {codes.max()}"
            )
        offsets = (
            self.codec_offset + np.arange(self.num_streams, dtype=np.int64) * self.codebook_size
        )
        return codes + offsets[None, :]

    def ids_to_codes(self, ids: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`codes_to_ids` for speech-frame rows ``[T, num_streams]``."""
        ids = np.asarray(ids, dtype=np.int64)
        offsets = (
            self.codec_offset + np.arange(self.num_streams, dtype=np.int64) * self.codebook_size
        )
        codes = ids - offsets[None, :]
        if codes.size and (codes.min() < 0 or codes.max() >= self.codebook_size):
            raise ValueError("ids outside their codebook ranges")
        return codes

    def is_codec(self, token_id: int) -> bool:
        return self.codec_offset <= token_id < self.boundary_offset

    # --- persistence ------------------------------------------------------------------------
    def to_dict(self) -> dict:
        d = asdict(self)
        d["size"] = self.size
        return d

    def save(self, path: str | Path) -> None:
        atomic_write_text(path, json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> VocabLayout:
        d = read_json_object(path)
        size = d.pop("size", None)
        try:
            layout = cls(**d)
        except TypeError as e:  # a missing or unknown field
            raise ValueError(f"{path}: not a vocabulary layout ({e})") from None
        if size is not None and size != layout.size:
            raise ValueError(f"{path}: recorded size {size} != computed {layout.size}")
        return layout

    @classmethod
    def from_configs(
        cls,
        base_config: dict,
        text_vocab_size: int,
        num_streams: int,
        codebook_size: int,
        num_extra_tokens: int = 0,
    ) -> VocabLayout:
        """From a Hugging Face ``config.json`` dict (``vocab_size`` = embedding rows) and the
        tokenizer's size."""
        return cls(
            text_vocab_size=int(text_vocab_size),
            text_rows=int(base_config["vocab_size"]),
            num_streams=int(num_streams),
            codebook_size=int(codebook_size),
            num_extra_tokens=int(num_extra_tokens),
        )
