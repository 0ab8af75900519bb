"""The decoder: many prefixes in, text hypotheses or speech samples out, in batches.

``Decoder(model, cfg)`` wraps a :class:`~espnet_codec_lm.lm.model.SpeechLM` and a
:class:`~espnet_codec_lm.decode.config.DecodingConfig`. Inputs are the inference-time prefixes
``<Condition><Prompt><target start>`` (``[T, L']`` int64, as built by
``tasks.sequence.SequenceBuilder.build_prefix``); they are sorted by length (less padding) and
decoded ``batch_size`` at a time; results come back in input order. ``iter_text`` /
``iter_speech`` yield each batch's results as soon as it is done, so a caller can write them
out (the decode stage resumes from what it wrote).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch

from espnet_codec_lm.decode.config import DecodingConfig, LengthGuard
from espnet_codec_lm.decode.constraints import HeadConstraints, script_bias, script_masks
from espnet_codec_lm.decode.speech_sampling import SpeechHyp, row_seed, sample_speech
from espnet_codec_lm.decode.stepper import Stepper
from espnet_codec_lm.decode.text_search import TextHyp, beam_search, greedy_search
from espnet_codec_lm.dual.model import DualSpeechLM


class DecodeInputError(ValueError):
    """An input the decoder cannot run (empty, too long for the model); names the input."""


class Decoder:
    """Batched autoregressive decoding with the KV cache; see the module docstring."""

    def __init__(self, model, cfg: DecodingConfig | None = None, tokenizer=None) -> None:
        if isinstance(model, DualSpeechLM):  # its LLM decodes text and USTokens
            model = model.llm
        self.model = model.eval()
        self.cfg = cfg or DecodingConfig()
        self.tokenizer = tokenizer  # needed by the script constraint only
        self._scripts: dict | None = None
        self.layout = model.layout
        self.constraints = HeadConstraints(self.layout)
        self.max_positions = int(getattr(model.config, "max_position_embeddings", 0) or 0) or None

    # --- helpers ------------------------------------------------------------------------------
    def max_len(self, prefix_len: int, guard: LengthGuard) -> int:
        """Target positions allowed after a prefix (the length guard of the config)."""
        return guard.max_len(prefix_len, self.max_positions)

    def _check(self, prefixes: Sequence[np.ndarray], keys: Sequence[str], guard: LengthGuard):
        tensors, max_lens = [], []
        L = self.layout.num_streams
        for p, key in zip(prefixes, keys):
            arr = np.asarray(p)
            if arr.ndim != 2 or arr.shape[1] != L or arr.shape[0] == 0:
                raise DecodeInputError(f"{key}: prefix must be a non-empty [T, {L}] array")
            n = self.max_len(arr.shape[0], guard)
            if n < 1:
                raise DecodeInputError(
                    f"{key}: input of {arr.shape[0]} positions leaves no room for a target "
                    f"(model max_position_embeddings {self.max_positions})"
                )
            tensors.append(torch.as_tensor(arr, dtype=torch.long))
            max_lens.append(n)
        return tensors, max_lens

    def _batches(self, lengths: list[int]) -> list[list[int]]:
        """Input indices grouped into batches of similar length (longest first)."""
        order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
        bs = self.cfg.batch_size
        return [order[i : i + bs] for i in range(0, len(order), bs)]

    def _stepper(self, modality: str) -> Stepper:
        ranges = self.constraints.ranges(modality)
        return Stepper(self.model, self.cfg.use_cache, self.cfg.padding_side, ranges)

    @staticmethod
    def _keys(n: int, keys: Sequence[str] | None) -> list[str]:
        if keys is None:
            return [str(i) for i in range(n)]
        if len(keys) != n:
            raise ValueError(f"{len(keys)} keys for {n} prefixes")
        return [str(k) for k in keys]

    # --- text ---------------------------------------------------------------------------------
    def _script_bias(self, langs: Sequence[str | None] | None, n: int) -> torch.Tensor | None:
        """Per-input bias of the script constraint (None when it is off)."""
        if self.cfg.text.script == "any":
            return None
        if langs is None or len(langs) != n:
            raise ValueError("decoding.text.script: target needs the target language of each input")
        if self.tokenizer is None:
            raise ValueError("decoding.text.script: target needs the Decoder's tokenizer")
        if self._scripts is None:
            self._scripts = script_masks(self.tokenizer, self.layout.text_vocab_size)
        return script_bias(self._scripts, list(langs))

    def iter_text(
        self,
        prefixes: Sequence[np.ndarray],
        keys: Sequence[str] | None = None,
        langs: Sequence[str | None] | None = None,
    ) -> Iterator[list[tuple[int, TextHyp]]]:
        """Yield ``[(input index, hypothesis), ...]`` batch by batch. ``langs``: each input's
        target language (used by ``decoding.text.script: target``)."""
        keys = self._keys(len(prefixes), keys)
        tcfg = self.cfg.text
        tensors, max_lens = self._check(prefixes, keys, tcfg)
        bias = self._script_bias(langs, len(prefixes))
        for batch in self._batches([len(t) for t in tensors]):
            ps, ms = [tensors[i] for i in batch], [max_lens[i] for i in batch]
            b = bias[batch] if bias is not None else None
            if tcfg.method == "greedy":
                hyps = greedy_search(
                    self._stepper("text"), ps, ms, self.constraints, tcfg.min_len, b
                )
            else:
                hyps = beam_search(self._stepper("text"), ps, ms, self.constraints, tcfg, b)
            yield list(zip(batch, hyps))

    def decode_text(
        self,
        prefixes: Sequence[np.ndarray],
        keys: Sequence[str] | None = None,
        langs: Sequence[str | None] | None = None,
    ) -> list[TextHyp]:
        """One :class:`TextHyp` per prefix, in input order."""
        out: list[TextHyp | None] = [None] * len(prefixes)
        for results in self.iter_text(prefixes, keys, langs):
            for i, hyp in results:
                out[i] = hyp
        return out  # type: ignore[return-value]

    # --- speech -------------------------------------------------------------------------------
    def iter_speech(
        self,
        prefixes: Sequence[np.ndarray],
        keys: Sequence[str] | None = None,
        uncond_prefixes: Sequence[np.ndarray] | None = None,
    ) -> Iterator[list[tuple[int, list[SpeechHyp]]]]:
        """Yield ``[(input index, [sample 0, ..., sample N-1]), ...]`` batch by batch. ``keys``
        (e.g. utterance ids) seed each input's samples (default: the input's index).
        ``uncond_prefixes``: the inputs without their condition, for classifier-free guidance
        (``speech.guidance`` > 1 needs them)."""
        keys = self._keys(len(prefixes), keys)
        scfg = self.cfg.speech
        tensors, max_lens = self._check(prefixes, keys, scfg)
        uncond = None
        if scfg.guidance != 1.0:
            if uncond_prefixes is None or len(uncond_prefixes) != len(prefixes):
                raise DecodeInputError(
                    f"speech.guidance {scfg.guidance} needs one unconditional prefix per input"
                )
            uncond, _ = self._check(uncond_prefixes, keys, scfg)
        greedy = scfg.method == "greedy"
        for batch in self._batches([len(t) for t in tensors]):
            seeds = None
            if not greedy:
                seeds = [
                    [row_seed(self.cfg.seed, keys[i], s) for s in range(scfg.num_samples)]
                    for i in batch
                ]
            hyps = sample_speech(
                self._stepper("speech"),
                [tensors[i] for i in batch],
                [max_lens[i] for i in batch],
                self.constraints,
                scfg.num_samples,
                seeds,
                top_k=scfg.top_k,
                temperature=scfg.temperature,
                min_len=scfg.min_len,
                end_prob=scfg.end_prob,
                uncond_prefixes=None if uncond is None else [uncond[i] for i in batch],
                guidance=scfg.guidance,
            )
            yield list(zip(batch, hyps))

    def decode_speech(
        self,
        prefixes: Sequence[np.ndarray],
        keys: Sequence[str] | None = None,
        uncond_prefixes: Sequence[np.ndarray] | None = None,
    ) -> list[list[SpeechHyp]]:
        """``num_samples`` :class:`SpeechHyp` per prefix, in input order."""
        out: list = [None] * len(prefixes)
        for results in self.iter_speech(prefixes, keys, uncond_prefixes):
            for i, hyps in results:
                out[i] = hyps
        return out
