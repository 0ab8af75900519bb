"""Python API: load an experiment (LM, tokenizer, codec) and run ASR, TTS, S2TT or S2ST.

    from espnet_codec_lm.inference import SpeechLMInference

    m = SpeechLMInference("exp/lm_sft_tts", codec="pretrained/codec")
    wav = m.tts("the cat sat on the mat.", prompt_wav, 16000)      # float32 at m.sample_rate
    text = m.asr(wav, m.sample_rate)
    zh = m.s2tt(wav, m.sample_rate, target_lang="zh")
    texts = m.transcribe([wav1, wav2], 16000)                         # scoring's ASR protocol

Decisions (doc/decoding.md):

* Audio at another sample rate is resampled (soxr, high quality) to the codec's rate; multi-
  channel audio is averaged to mono. Rates below 8 kHz, empty audio and NaN / Inf samples are
  errors. The codec itself refuses other rates, so everything reaches it at its own rate.
* TTS speaker prompt: the first ``speaker_prompt_s`` (3 s) of ``prompt_wav`` are used, as in SFT;
  a prompt shorter than ``min_prompt_s`` (1 s) is an error (too little of the voice to imitate).
* Text must contain something other than whitespace.
* Speech outputs are one waveform (the first sample; ``num_samples`` > 1 in the config gives
  more through :meth:`SpeechLMInference.generate_speech`). Sampling is seeded by the config's
  ``seed`` and the input, so the same call gives the same audio.
* The task prompt is entry ``prompt_index`` of the SFT bank in the prompt language (``lang``
  argument, else the config's ``prompt_lang``, else English).

A pack of several models (``bin/pack`` with several ``--exp``: one model per group of tasks)
loads by the same path with the task named: ``SpeechLMInference(pack, task="tts")`` loads the
model that ``<pack>/tasks.yaml`` maps ``tts`` to (:func:`lm_for_task`).

Every problem is an :class:`InferenceError` (a ``ValueError``) with a one-line message.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from espnet_codec_lm.config import load_config, read_yaml
from espnet_codec_lm.data.audio import to_mono_resampled
from espnet_codec_lm.decode.config import LMDecodeConfig
from espnet_codec_lm.decode.decoder import Decoder
from espnet_codec_lm.decode.inputs import make_builder
from espnet_codec_lm.decode.loading import find_codec_dir, load_codec_dir, load_lm
from espnet_codec_lm.decode.stage import codec_device, synthesize
from espnet_codec_lm.tasks.corpus import detect_lang
from espnet_codec_lm.tasks.prompts import LANGS
from espnet_codec_lm.tasks.sequence import Prefix, Sample

MIN_RATE = 8000
#: a pack of several models maps each task to its model's sub-directory in this file (bin/pack)
TASKS_FILE = "tasks.yaml"


class InferenceError(ValueError):
    """Bad input to the inference API (one line)."""


def _input_key(*parts) -> str:
    """A short deterministic key of an input (seeds its samples)."""
    h = hashlib.sha256()
    for p in parts:
        h.update(p.tobytes() if isinstance(p, np.ndarray) else str(p).encode())
        h.update(b"\x00")
    return h.hexdigest()[:16]


def lm_for_task(lm: str | Path, task: str) -> Path:
    """The model directory of ``task`` in ``lm``: in a pack of several models the sub-directory
    that its ``tasks.yaml`` maps ``task`` to, else ``lm`` itself (a pack of one model, an
    experiment or a checkpoint serves every task)."""
    lm = Path(lm)
    index = lm / TASKS_FILE
    if not index.is_file():
        return lm
    tasks = read_yaml(index)
    if task not in tasks:
        raise InferenceError(f"{index}: no model for task {task!r} (it has {', '.join(tasks)})")
    return lm / tasks[task]


def task_config(
    lm: str | Path, task: str, config: str | Path | None = None, overrides: Sequence[str] = ()
) -> LMDecodeConfig:
    """The decode config of ``task``: ``config`` if given, else the pack's
    ``decode/<task>.yaml`` (bin/pack ships the configs it was scored with; in a pack of several
    models the one of the task's model, :func:`lm_for_task`), else the defaults; then
    ``overrides`` (dotted ``key=value``). Speech tasks give one sample
    (``decoding.speech.num_samples=1``) unless an override says otherwise."""
    overrides = list(overrides)
    if not any(o.startswith("decoding.speech.num_samples=") for o in overrides):
        overrides.append("decoding.speech.num_samples=1")
    if config is None:
        packed = lm_for_task(lm, task) / "decode" / f"{task}.yaml"
        if packed.is_file():
            config = packed
    cfg = load_config(LMDecodeConfig, config, overrides)
    cfg.task = task
    return cfg


class SpeechLMInference:
    """An LM experiment ready for inference; see the module docstring. ``task`` picks the model
    of a pack of several models (:func:`lm_for_task`); elsewhere it changes nothing."""

    def __init__(
        self,
        lm: str | Path,
        codec: str | Path | None = None,
        config: LMDecodeConfig | None = None,
        min_prompt_s: float = 1.0,
        task: str | None = None,
    ) -> None:
        import torch

        if task is not None:
            lm = lm_for_task(lm, task)
        elif (Path(lm) / TASKS_FILE).is_file():
            raise InferenceError(f"{lm}: a pack of several models ({TASKS_FILE}); name the task")
        if config is None:
            config = LMDecodeConfig()
            config.decoding.speech.num_samples = 1
        self.config = config
        dcfg = config.decoding
        if dcfg.num_threads > 0:
            torch.set_num_threads(dcfg.num_threads)
        self.model, self.tokenizer, self.checkpoint = load_lm(lm, dcfg.dtype, dcfg.device)
        self.codec_dir = find_codec_dir(codec, lm)
        self.codec = load_codec_dir(self.codec_dir, dcfg.device)
        self.layout = self.model.layout
        if self.codec.codebook_size != self.layout.codebook_size:
            raise InferenceError(
                f"{self.codec_dir}: codec has {self.codec.codebook_size} codes per codebook, the "
                f"LM {self.checkpoint} expects {self.layout.codebook_size}"
            )
        self.builder = make_builder(config, self.layout, self.tokenizer)
        self.decoder = Decoder(self.model, dcfg, self.tokenizer)
        self.min_prompt_s = min_prompt_s

    def with_config(self, config: LMDecodeConfig) -> SpeechLMInference:
        """The same loaded LM and codec with another decode config (prompts, search, sampling):
        one model serves every task with its own settings. The config's ``dtype``, ``device``
        and ``num_threads`` are not applied (the model is already loaded)."""
        other = copy.copy(self)
        other.config = config
        other.builder = make_builder(config, self.layout, self.tokenizer)
        other.decoder = Decoder(self.model, config.decoding, self.tokenizer)
        return other

    # --- audio ------------------------------------------------------------------------------
    @property
    def sample_rate(self) -> int:
        """Rate of the codec (of every waveform this class returns)."""
        return int(self.codec.sample_rate)

    def prepare_audio(self, wav, sr: int, what: str = "audio") -> np.ndarray:
        """Mono float32 at the codec's rate (resampled if needed); errors name ``what``."""
        wav = np.asarray(wav, dtype=np.float32)
        if not isinstance(sr, (int, np.integer)) or sr < MIN_RATE:
            raise InferenceError(f"{what}: sample rate {sr!r} Hz (need an integer >= {MIN_RATE})")
        if wav.ndim == 2 and wav.shape[0] < wav.shape[1] and wav.shape[0] <= 8:
            wav = wav.T  # [channels, samples] -> [samples, channels]
        if wav.ndim not in (1, 2) or wav.shape[0] == 0:
            raise InferenceError(f"{what}: expected non-empty mono or [samples, channels] audio")
        if not np.isfinite(wav).all():
            raise InferenceError(f"{what}: audio contains NaN or Inf samples")
        return to_mono_resampled(wav, int(sr), self.sample_rate)

    def encode(self, wav, sr: int, what: str = "audio") -> np.ndarray:
        """Audio -> codec-local codes ``[T, L']``."""
        import torch

        x = torch.from_numpy(self.prepare_audio(wav, sr, what)).to(codec_device(self.codec))
        codes = self.codec.encode(x, n_q=self.layout.num_streams)
        return codes.T.cpu().numpy().astype(np.int64)

    def synthesize(self, codes: np.ndarray) -> np.ndarray:
        """Codes ``[T, L']`` -> waveform at :attr:`sample_rate`."""
        return synthesize(self.codec, codes)

    # --- building blocks ----------------------------------------------------------------------
    def _lang(self, lang: str | None) -> str:
        lang = lang or (self.config.prompt_lang if self.config.prompt_lang != "data" else "en")
        if lang not in LANGS:
            raise InferenceError(f"language {lang!r} not supported (one of {list(LANGS)})")
        return lang

    def _prefix(self, task: str, sample, prompt_lang: str) -> np.ndarray:
        return self._build(task, sample, prompt_lang).tokens

    def _build(self, task: str, sample, prompt_lang: str) -> Prefix:
        return self.builder.build_prefix(
            task,
            sample,
            prompt_lang=prompt_lang,
            prompt_index=self.config.prompt_index,
            style_index=self.config.style_index,
        )

    def _text(self, text: str, what: str = "text") -> str:
        if not isinstance(text, str) or not text.strip():
            raise InferenceError(f"{what}: empty text")
        return " ".join(text.split())

    def generate_text(
        self, prefixes: list[np.ndarray], langs: list[str | None] | None = None
    ) -> list[str]:
        """Decode text targets of ready prefixes (beam search per the config); ``langs``: each
        output's language (the config's ``decoding.text.script: target`` needs it)."""
        hyps = self.decoder.decode_text(prefixes, langs=langs)
        return [self.tokenizer.decode(h.ids).strip() for h in hyps]

    def generate_speech(
        self,
        prefixes: list[np.ndarray],
        keys: list[str],
        uncond_prefixes: list[np.ndarray] | None = None,
    ) -> list[list[np.ndarray]]:
        """Decode speech targets: ``num_samples`` waveforms per prefix (``uncond_prefixes``: the
        prefixes without their condition, needed when ``decoding.speech.guidance`` > 1)."""
        out = self.decoder.decode_speech(prefixes, keys, uncond_prefixes)
        return [[self.synthesize(h.codes) for h in hyps] for hyps in out]

    def _speech(self, prefix: Prefix, key: str) -> np.ndarray:
        uncond = [prefix.without_condition()] if self.config.decoding.speech.guidance != 1 else None
        return self.generate_speech([prefix.tokens], [key], uncond)[0][0]

    # --- tasks --------------------------------------------------------------------------------
    def transcribe(
        self, wavs: Sequence[np.ndarray], sample_rate: int = 16000, language: str | None = None
    ) -> list[str]:
        """ASR of many waveforms at once (the metrics' ``SpeechRecognizer`` protocol)."""
        lang = self._lang(language)
        prefixes = [
            self._prefix(
                "asr",
                Sample(f"input{i}", lang=lang, codes=self.encode(w, sample_rate, f"input {i}")),
                lang,
            )
            for i, w in enumerate(wavs)
        ]
        return self.generate_text(prefixes, [lang] * len(prefixes)) if prefixes else []

    def asr(self, wav, sr: int, lang: str | None = None) -> str:
        """Speech -> transcript. ``lang`` picks the prompt language (default English)."""
        return self.transcribe([wav], sr, lang)[0]

    def s2tt(self, wav, sr: int, target_lang: str, src_lang: str | None = None) -> str:
        """Speech -> text in ``target_lang`` (``en`` / ``zh``)."""
        tgt = self._lang(target_lang)
        src = self._lang(src_lang)  # the prompt's language (default: the config's / English)
        s = Sample("input", lang=src, codes=self.encode(wav, sr, "source speech"), tgt_lang=tgt)
        return self.generate_text([self._prefix("s2tt", s, src)], [tgt])[0]

    def tts(self, text: str, prompt_wav, sr: int, lang: str | None = None) -> np.ndarray:
        """Text -> speech in the voice of ``prompt_wav`` (its first 3 s are used)."""
        text = self._text(text)
        lang = self._lang(lang or detect_lang(text))
        prompt = self.prepare_audio(prompt_wav, sr, "speaker prompt")
        dur = len(prompt) / self.sample_rate
        if dur < self.min_prompt_s:
            raise InferenceError(
                f"speaker prompt: {dur:.2f} s of audio, need at least {self.min_prompt_s:g} s"
            )
        prompt = prompt[: int(round(self.config.speaker_prompt_s * self.sample_rate))]
        codes = self.encode(prompt, self.sample_rate, "speaker prompt")
        s = Sample("input", lang=lang, text=text, speaker_prompt=codes)
        return self._speech(self._build("tts", s, lang), _input_key("tts", text, codes))

    def s2st(
        self, wav, sr: int, target_lang: str = "zh", src_lang: str | None = None
    ) -> np.ndarray:
        """Speech -> speech in ``target_lang`` (the paper's GigaS2S direction is EN -> ZH)."""
        tgt = self._lang(target_lang)
        codes = self.encode(wav, sr, "source speech")
        s = Sample("input", lang=self._lang(src_lang), codes=codes, tgt_lang=tgt)
        return self._speech(self._build("s2st", s, s.lang), _input_key("s2st", tgt, codes))


def load_recognizer(path: str | Path, device: str = "cpu"):
    """The recipe's own ASR as a scoring model (``metrics.asr``'s ``toolkit`` kind, the default
    ``asr.loader``): a :class:`SpeechLMInference` used for its ``transcribe``. ``path`` is

    * an ASR experiment or checkpoint directory (its codec at ``<experiment>/codec``), or a pack
      of ``bin/pack`` (of several models: its ASR model), or
    * a YAML file ``{lm: <exp or checkpoint>, codec: <codec dir>, overrides: [key=value, ...]}``
      (overrides of :class:`LMDecodeConfig`, e.g. ``decoding.text.beam_size=4``).
    """
    path = Path(path)
    lm, codec, overrides = path, None, []
    if path.is_file():
        spec = read_yaml(path)
        unknown = set(spec) - {"lm", "codec", "overrides"}
        if unknown or "lm" not in spec:
            raise ValueError(f"{path}: expected keys lm, codec, overrides (got {sorted(spec)})")
        lm = Path(spec["lm"])
        codec = spec.get("codec")
        overrides = [str(o) for o in spec.get("overrides") or []]
    cfg = load_config(LMDecodeConfig, None, [*overrides, f"decoding.device={device}"])
    cfg.task = "asr"
    return SpeechLMInference(lm, codec=codec, config=cfg, task="asr")
