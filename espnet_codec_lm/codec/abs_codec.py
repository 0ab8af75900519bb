"""The interface every codec implements (doc/design.md, "Codec interface")."""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch


class CodecInputError(ValueError):
    """Audio a codec cannot encode (wrong rate, NaN, empty); the message is one line."""


class AbsCodec(ABC):
    """A neural speech codec: waveform <-> codes ``[n_q, T]`` of ``num_codebooks`` codebooks.

    ``encode`` accepts ``[N]`` or ``[B, N]`` float audio at :attr:`sample_rate` and returns
    ``[n_q, T]`` or ``[B, n_q, T]`` int64 codes with ``T = ceil(N / hop_length)``; ``decode`` maps
    them back to ``[N']`` / ``[B, N']`` audio with ``N' = T * hop_length``.
    """

    @property
    @abstractmethod
    def sample_rate(self) -> int: ...

    @property
    @abstractmethod
    def hop_length(self) -> int: ...

    @property
    def frame_rate(self) -> float:
        """Frames (code vectors) per second."""
        return self.sample_rate / self.hop_length

    @property
    @abstractmethod
    def num_codebooks(self) -> int: ...

    @property
    @abstractmethod
    def codebook_size(self) -> int: ...

    @abstractmethod
    def encode(self, wav: torch.Tensor, n_q: int | None = None) -> torch.Tensor: ...

    @abstractmethod
    def decode(self, codes: torch.Tensor) -> torch.Tensor: ...


def check_waveform(
    wav: torch.Tensor, sample_rate: int, expected_rate: int, name: str = "input"
) -> torch.Tensor:
    """Validate audio before encoding; raise :class:`CodecInputError` naming ``name``.

    Documented handling (doc/codec.md): a wrong sample rate, NaN/Inf samples or an empty signal
    are errors; audio shorter than one frame is zero-padded to one frame; silence is fine.
    """
    if sample_rate != expected_rate:
        raise CodecInputError(
            f"{name}: sample rate {sample_rate} Hz, the codec expects {expected_rate} Hz "
            "(resample first)"
        )
    if wav.ndim not in (1, 2):
        raise CodecInputError(f"{name}: expected mono audio [N] or [B, N], got {tuple(wav.shape)}")
    if wav.shape[-1] == 0:
        raise CodecInputError(f"{name}: empty audio")
    if not torch.isfinite(wav).all():
        raise CodecInputError(f"{name}: audio contains NaN or Inf samples")
    return wav
