"""The scoring configuration (``bin/score --config``): which local models the metrics use.

Every model is optional. When one is not configured, or its path is missing, the metrics that
need it are written as ``"not computed: <reason>"`` and never as a number::

    asr:                       # ASR for TTS WER/CER and ASR-BLEU
      kind: whisper            # none | whisper | toolkit
      path: /models/whisper-large-v3   # a local Hugging Face directory
      batch_size: 8
    speaker:                   # SPK-SIM
      path: /models/voxcelebs12_rawnet3   # an ESPnet spk directory (config.yaml + *.pth)
    mos:                       # UTMOS
      path: /models/utmos22_strong_step7459_v1.pt
    normaliser:
      english_spelling: null   # Whisper's normalizer.json; null: taken from asr.path if there
    device: auto
"""

from __future__ import annotations

import dataclasses
from typing import Literal

from espnet_codec_lm.utils.device import resolve_device  # noqa: F401 (re-exported)


class ModelUnavailable(Exception):
    """A model-based metric cannot run; the message is the reason shown in the results."""


@dataclasses.dataclass
class ASRModelConfig:
    """The ASR that transcribes generated speech (TTS WER/CER, ASR-BLEU)."""

    kind: Literal["none", "whisper", "toolkit"] = "none"
    # whisper: a local Hugging Face directory (WhisperForConditionalGeneration + processor).
    # toolkit: whatever `loader` accepts (e.g. an ASR fine-tuning experiment directory).
    path: str | None = None
    # toolkit only: "module:function" called as function(path, device) -> SpeechRecognizer.
    loader: str = "espnet_codec_lm.inference:load_recognizer"
    # name shown in the result tables; default: the directory name of `path`
    name: str | None = None
    batch_size: int = 8
    # whisper: beam size (1 = greedy, Whisper's own default without temperature fallback)
    num_beams: int = 1


@dataclasses.dataclass
class ModelPathConfig:
    """A local checkpoint of a model-based metric (speaker embedding, MOS predictor)."""

    path: str | None = None
    name: str | None = None


@dataclasses.dataclass
class NormaliserConfig:
    """Text normalisation before WER/CER and ASR-BLEU."""

    # Whisper's British->American spelling table (normalizer.json). null: use
    # <asr.path>/normalizer.json when a Whisper model is configured and has one.
    english_spelling: str | None = None
    zh_to_simplified: bool = True


@dataclasses.dataclass
class ScoringConfig:
    """Everything ``bin/score`` needs besides the decode and data directories."""

    asr: ASRModelConfig = dataclasses.field(default_factory=ASRModelConfig)
    speaker: ModelPathConfig = dataclasses.field(default_factory=ModelPathConfig)
    mos: ModelPathConfig = dataclasses.field(default_factory=ModelPathConfig)
    normaliser: NormaliserConfig = dataclasses.field(default_factory=NormaliserConfig)
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    # Score only the utterances that were decoded (default: a missing output counts as an empty
    # hypothesis, i.e. all its reference words are deletions, and is reported as missing).
    ignore_missing: bool = False
