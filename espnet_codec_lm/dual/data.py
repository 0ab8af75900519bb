"""DualSpeechLM's data: the toolkit's task pipeline over USToken dumps, plus acoustic targets.

:class:`DualTaskDataset` is a :class:`~espnet_codec_lm.tasks.dataset.TaskDataset` whose speech
sets hold USTokens (the LLM's input and its semantic targets). Each batch gains, for every
example whose target is a whole utterance's speech (TTS, T2ST: the utterance itself; S2ST: its
target-language speech), the acoustic codec codes of that speech, a speaker prompt in acoustic
codes and the span of hidden states that conditions the acoustic decoder (Chain-of-Condition,
drawn per example). All of it is a pure function of ``(seed, epoch, batch, rank)``, so resuming
stays exact.

Batch keys added (``G`` generation examples; see :meth:`DualSpeechLM.forward`):
``ac_codes`` int64 ``[G, T, L'_a]`` (-1 past ``ac_lens``), ``ac_lens`` ``[G]``, ``ac_prompt``
``[G, P, L'_a]``, ``ac_prompt_lens`` ``[G]`` (0: no prompt), ``ac_cond`` ``[G, 3]`` =
(row, start, end) in the packed batch.

Config (the ``data.acoustic`` section; the acoustic codes are the codec stage's dumps)::

    acoustic:
      codes: [dump/codes/train/codes.scp]        # any number of scp files, utterance ids unique
      codes_tgt: [dump/codes/train/codes_tgt.scp] # S2ST target speech
      valid_codes: [dump/codes/dev/codes.scp]
      prompt_s: 3.0                                # speaker prompt length, seconds
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import torch

from espnet_codec_lm.config import config_from_dict
from espnet_codec_lm.dual.config import COC_MODES
from espnet_codec_lm.dual.model import coc_condition
from espnet_codec_lm.lm.vocab import VocabLayout
from espnet_codec_lm.tasks.corpus import _load_codes
from espnet_codec_lm.tasks.dataset import (
    DataConfig,
    TaskDataset,
    TaskValidSource,
    has_validation,
    valid_config,
)
from espnet_codec_lm.tasks.templates import TASK_NAMES, get_template


@dataclass
class AcousticDataConfig:
    """Where the acoustic codes are and how the speaker prompt is cut (module docstring)."""

    codes: list[str] = field(default_factory=list)
    codes_tgt: list[str] = field(default_factory=list)
    valid_codes: list[str] = field(default_factory=list)
    valid_codes_tgt: list[str] = field(default_factory=list)
    prompt_s: float = 3.0
    frame_rate: float = 50.0  # acoustic frames per second (the codec's)


def acoustic_source(task: str) -> str | None:
    """Which acoustic codes are a task's target: ``codes`` (the utterance), ``codes_tgt``
    (its target-language speech) or None (no whole-utterance speech target)."""
    target = get_template(task).target
    if target.modality != "speech":
        return None
    return {"speech": "codes", "target_speech": "codes_tgt"}.get(target.slot)


def load_acoustic(scps: list[str], streams: int, codebook_size: int) -> dict[str, np.ndarray]:
    """``utt -> codes [T, streams]`` from codec scp files (utterance ids must be unique)."""
    lay = VocabLayout(0, 0, streams, codebook_size)
    out: dict[str, np.ndarray] = {}
    for scp in scps:
        for utt, arr in _load_codes(scp, lay, None).items():
            if utt in out:
                raise ValueError(f"{scp}: utterance {utt} is also in an earlier acoustic scp")
            out[utt] = np.ascontiguousarray(arr[:, :streams]).astype(np.int64)
    return out


class DualTaskDataset(TaskDataset):
    """TaskDataset + acoustic targets, speaker prompts and CoC spans (module docstring)."""

    def __init__(
        self,
        cfg: DataConfig,
        layout: VocabLayout,
        tokenizer,
        acoustic: dict[str, dict[str, np.ndarray]],
        prompt_frames: int,
        coc_modes: list[str],
        rank: int = 0,
        world_size: int = 1,
        **kwargs,
    ) -> None:
        if cfg.loss_weighting != "token":
            raise ValueError("DualSpeechLM trains with data.loss_weighting: token")
        super().__init__(cfg, layout, tokenizer, rank, world_size, **kwargs)
        self.acoustic = acoustic  # {"codes": {utt: [T, La]}, "codes_tgt": {...}}
        self.streams = next((int(a.shape[1]) for t in acoustic.values() for a in t.values()), 1)
        self.prompt_frames = prompt_frames
        self.coc_modes = list(coc_modes)
        speech = self.corpora.get("speech")
        self._speaker_of = {s.uttid: s.speaker for s in speech.samples} if speech else {}
        self._by_speaker: dict[str, list[str]] = {}
        for utt, spk in sorted(self._speaker_of.items()):
            if spk is not None and utt in acoustic.get("codes", {}):
                self._by_speaker.setdefault(spk, []).append(utt)

    def speaker_prompt(self, task: str, uttid: str, rng: np.random.Generator) -> np.ndarray | None:
        """Acoustic codes of the speaker prompt: TTS / T2ST another utterance of the speaker,
        S2ST the source utterance itself (its voice is kept); ``prompt_frames`` long at most."""
        codes = self.acoustic.get("codes", {})
        if acoustic_source(task) == "codes_tgt":
            src = codes.get(uttid)
        else:
            others = [
                u for u in self._by_speaker.get(self._speaker_of.get(uttid), []) if u != uttid
            ]
            src = codes[others[int(rng.integers(len(others)))]] if others else None
        if src is None or self.prompt_frames <= 0:
            return None
        n = min(self.prompt_frames, len(src))
        start = int(rng.integers(0, len(src) - n + 1))
        return src[start : start + n]

    def get_batch(self, epoch: int, b: int) -> dict:
        rows = [self.examples_of_row(epoch, r) for r in self.rows_of(epoch, b)]
        batch = self.collate_rows(rows, epoch, b)  # built once: the LLM's batch, then these
        rng = np.random.default_rng([self.cfg.seed, epoch, b, self.rank, 2**29])
        items = []  # (row, cond start, cond end, codes, prompt)
        for r, row in enumerate(rows):
            pos = 0
            for tid, ex in row:
                task = TASK_NAMES[tid]
                codes = self._target_codes(task, ex)
                if codes is not None:
                    span = next(s for s in ex.spans if s.role == "target")
                    mode = self.coc_modes[int(rng.integers(len(self.coc_modes)))]
                    start, end = coc_condition(mode, span.start, span.end)
                    prompt = self.speaker_prompt(task, ex.uttid, rng)
                    items.append((r, pos + start, pos + end, codes, prompt))
                pos += len(ex)
        batch.update(collate_acoustic(items, self.streams))
        return batch

    def _target_codes(self, task: str, ex) -> np.ndarray | None:
        """The acoustic codes of a whole-utterance speech target of ``ex`` (None if the task has
        none, the example is a piece of a split one, or the codes are missing)."""
        source = acoustic_source(task)
        if source is None:
            return None
        spans = [s for s in ex.spans if s.role == "target"]
        if len(spans) != 1:
            return None
        s = spans[0]
        lay = self.layout
        if (
            s.end > len(ex)
            or ex.tokens[s.start, 0] != lay.speech_start
            or ex.tokens[s.end - 1, 0] != lay.speech_end
        ):
            return None
        return self.acoustic.get(source, {}).get(ex.uttid)


def collate_acoustic(items: list, streams: int) -> dict[str, torch.Tensor]:
    """The ``ac_*`` batch tensors of ``(row, start, end, codes, prompt)`` items."""
    G = len(items)
    T = max((len(c) for *_, c, _ in items), default=0)
    P = max((len(p) for *_, p in items if p is not None), default=0)
    codes = np.full((G, T, streams), -1, np.int64)
    prompt = np.full((G, P, streams), -1, np.int64)
    lens, plens = np.zeros(G, np.int64), np.zeros(G, np.int64)
    cond = np.zeros((G, 3), np.int64)
    for g, (row, start, end, c, p) in enumerate(items):
        codes[g, : len(c)], lens[g] = c, len(c)
        if p is not None:
            prompt[g, : len(p)], plens[g] = p, len(p)
        cond[g] = (row, start, end)
    return {
        "ac_codes": torch.from_numpy(codes),
        "ac_lens": torch.from_numpy(lens),
        "ac_prompt": torch.from_numpy(prompt),
        "ac_prompt_lens": torch.from_numpy(plens),
        "ac_cond": torch.from_numpy(cond),
    }


def build_dual_sources(
    data: dict,
    layout: VocabLayout,
    tokenizer,
    streams: int,
    codebook_size: int,
    coc_modes: tuple[str, ...] = COC_MODES,
    rank: int = 0,
    world_size: int = 1,
    **trainer_fields,
) -> tuple[DualTaskDataset, TaskValidSource | None]:
    """``(train, valid)`` as :func:`~espnet_codec_lm.tasks.dataset.build_sources`, from a
    ``data:`` section with an ``acoustic:`` subsection (module docstring)."""
    data = dict(data)
    acfg = config_from_dict(AcousticDataConfig, data.pop("acoustic", None) or {}, "data.acoustic")
    if not acfg.codes:
        raise ValueError("data.acoustic.codes: DualSpeechLM needs the codec codes of its speech")
    cfg = replace(config_from_dict(DataConfig, data, "data"), **trainer_fields)
    frames = int(round(acfg.prompt_s * acfg.frame_rate))
    train_ac = {
        "codes": load_acoustic(acfg.codes, streams, codebook_size),
        "codes_tgt": load_acoustic(acfg.codes_tgt, streams, codebook_size),
    }
    train = DualTaskDataset(cfg, layout, tokenizer, train_ac, frames, coc_modes, rank, world_size)
    if not has_validation(cfg):
        return train, None
    valid_ac = {
        "codes": load_acoustic(acfg.valid_codes, streams, codebook_size),
        "codes_tgt": load_acoustic(acfg.valid_codes_tgt, streams, codebook_size),
    }
    valid = DualTaskDataset(
        valid_config(cfg), layout, tokenizer, valid_ac, frames, ["full"], rank, world_size,
        bank=train.builder.prompts.bank, require_all_tasks=False,
    )  # fmt: skip
    return train, TaskValidSource(valid, cfg.valid_batches)
