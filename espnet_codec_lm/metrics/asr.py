"""Pluggable ASR for scoring generated speech (TTS WER/CER, ASR-BLEU).

Anything with ``transcribe(wavs, sample_rate, language) -> list[str]`` is a
:class:`SpeechRecognizer`. Two kinds are built in:

- ``whisper``: a Whisper checkpoint in a local Hugging Face directory, run by ``transformers``
  (``WhisperForConditionalGeneration`` + ``WhisperProcessor``; the paper uses large-v3). Audio
  longer than Whisper's 30 s window is truncated to it (counted and logged): generated speech in
  these tasks is a sentence, and a model that runs on past 30 s is already failing.
- ``toolkit``: the toolkit's own fine-tuned ASR, built by a ``module:function`` loader named in the
  config and called as ``function(path, device)``; it must return a :class:`SpeechRecognizer`.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from espnet_codec_lm.metrics.config import ASRModelConfig, ModelUnavailable

log = logging.getLogger(__name__)

WHISPER_WINDOW_S = 30.0


@runtime_checkable
class SpeechRecognizer(Protocol):
    """The ASR protocol scoring relies on.

    ``wavs`` are float32 mono arrays in [-1, 1] at ``sample_rate`` (16 kHz from scoring);
    ``language`` is an ISO code (``en``, ``zh``) or None; the result has one string per input,
    in order (an empty string for no speech).
    """

    def transcribe(
        self, wavs: Sequence[np.ndarray], sample_rate: int = 16000, language: str | None = None
    ) -> list[str]: ...


class WhisperRecognizer:
    """Whisper from a local Hugging Face directory (``save_pretrained`` layout)."""

    def __init__(
        self, path: str | Path, device: str = "cpu", batch_size: int = 8, num_beams: int = 1
    ) -> None:
        import torch
        import transformers
        from transformers import WhisperForConditionalGeneration, WhisperProcessor

        self.path = Path(path)
        self.device = device
        self.batch_size = batch_size
        self.num_beams = num_beams
        dtype = torch.float16 if device.startswith("cuda") else torch.float32
        self.processor = WhisperProcessor.from_pretrained(str(self.path))
        self.model = WhisperForConditionalGeneration.from_pretrained(str(self.path), dtype=dtype)
        self.model.to(device).eval()
        self.num_truncated = 0
        # The per-batch notices (no attention mask for 30 s padded input, max_length vs
        # max_new_tokens) are expected here and would flood the scoring log.
        transformers.logging.set_verbosity_error()

    def transcribe(
        self, wavs: Sequence[np.ndarray], sample_rate: int = 16000, language: str | None = None
    ) -> list[str]:
        import torch

        fe = self.processor.feature_extractor
        if sample_rate != fe.sampling_rate:
            raise ValueError(f"Whisper expects {fe.sampling_rate} Hz audio, got {sample_rate}")
        # Whisper's decoder holds max_target_positions tokens, 4 of them the task prompt.
        max_new = max(1, self.model.config.max_target_positions - 8)
        out: list[str] = []
        for start in range(0, len(wavs), self.batch_size):
            batch = [np.asarray(w, dtype=np.float32) for w in wavs[start : start + self.batch_size]]
            self.num_truncated += sum(len(w) > WHISPER_WINDOW_S * sample_rate for w in batch)
            feats = fe(batch, sampling_rate=sample_rate, return_tensors="pt").input_features
            feats = feats.to(self.device, dtype=self.model.dtype)
            kwargs = {"task": "transcribe", "num_beams": self.num_beams, "max_new_tokens": max_new}
            if language:
                kwargs["language"] = language
            with torch.inference_mode():
                ids = self.model.generate(feats, **kwargs)
            out.extend(
                t.strip() for t in self.processor.batch_decode(ids, skip_special_tokens=True)
            )
        return out


def _import_loader(spec: str):
    if ":" not in spec:
        raise ModelUnavailable(f"asr.loader '{spec}' is not of the form module:function")
    mod_name, fn_name = spec.split(":", 1)
    try:
        mod = importlib.import_module(mod_name)
    except ImportError as e:
        raise ModelUnavailable(
            f"toolkit ASR loader module '{mod_name}' not importable ({e})"
        ) from None
    fn = getattr(mod, fn_name, None)
    if fn is None:
        raise ModelUnavailable(f"toolkit ASR loader '{spec}' not found")
    return fn


def asr_name(cfg: ASRModelConfig) -> str:
    """How the results name this ASR: ``whisper:<name>`` / ``toolkit:<name>``."""
    name = cfg.name or (Path(cfg.path).name if cfg.path else "?")
    return f"{cfg.kind}:{name}"


def load_recognizer(cfg: ASRModelConfig, device: str = "cpu") -> SpeechRecognizer:
    """Build the configured ASR, or raise :class:`ModelUnavailable` saying why not."""
    if cfg.kind == "none":
        raise ModelUnavailable("no ASR model configured (asr.kind: none)")
    if not cfg.path:
        raise ModelUnavailable(f"asr.path is not set for asr.kind: {cfg.kind}")
    if cfg.kind == "whisper":
        path = Path(cfg.path)
        if not (path / "config.json").is_file():
            raise ModelUnavailable(f"Whisper model directory not found: {path}")
        log.info("loading Whisper from %s on %s", path, device)
        return WhisperRecognizer(path, device, cfg.batch_size, cfg.num_beams)
    fn = _import_loader(cfg.loader)
    if not Path(cfg.path).exists():
        raise ModelUnavailable(f"toolkit ASR not found: {cfg.path}")
    recognizer = fn(cfg.path, device)
    if not isinstance(recognizer, SpeechRecognizer):
        raise ModelUnavailable(f"{cfg.loader} returned {type(recognizer).__name__}, not an ASR")
    return recognizer
