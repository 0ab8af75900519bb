"""Decoded outputs during training: WER / CER / BLEU of a few dev utterances every N steps.

A loss that falls does not say whether a model transcribes: at toy scale a model can reach a
low transcript loss while still writing a fluent sentence of the wrong language. The monitor
decodes the first ``eval.decode_utts`` utterances *per language* of the validation speech sets
with greedy search, exactly as the decode stage builds them (SFT prompt entry
``eval.decode_prompt_index`` in the utterance's language), and scores them with the toolkit's
own metrics (Whisper normaliser, WER for English, CER for Mandarin, sacrebleu BLEU). Each due
validation adds ``dev_<task>_<metric>_<lang>`` and ``dev_<task>_target_lang_<lang>`` (the
share of hypotheses written in the language the task asks for) to ``valid_log.jsonl``, prints
two hypotheses next to their references, and appends every hypothesis to
``decode_monitor.jsonl``; ``elapsed_s`` (wall seconds of training so far) lets
``bin/learning_curve`` plot the scores against minutes.

Every rank decodes the same utterances (with FSDP each forward pass needs every rank), and
only the main rank writes.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

log = logging.getLogger("train")

#: text-target tasks the monitor can decode
MONITOR_TASKS = ("asr", "s2tt")


@dataclass
class MonitorItem:
    task: str
    uttid: str
    src_lang: str
    tgt_lang: str
    prefix: np.ndarray
    reference: str


class DecodeMonitor:
    """Greedy decoding of a fixed set of dev prefixes, scored; see the module docstring."""

    def __init__(self, items: list[MonitorItem], tokenizer, max_len: int = 64) -> None:
        from espnet_codec_lm.metrics.normalize import TextNormalizer

        if not items:
            raise ValueError("decode monitor: no utterance to decode")
        self.items = items
        self.tokenizer = tokenizer
        self.max_len = max_len
        self.normalizer = TextNormalizer()

    @classmethod
    def from_data(
        cls,
        speech_sets,
        tasks: list[str],
        layout,
        tokenizer,
        per_lang: int,
        prompt_index: int = 0,
        max_len: int = 64,
    ) -> DecodeMonitor:
        """The first ``per_lang`` utterances of each language of ``speech_sets`` for ``tasks``."""
        from espnet_codec_lm.tasks.corpus import load_speech_set
        from espnet_codec_lm.tasks.prompts import PromptBank, TokenizedPrompts
        from espnet_codec_lm.tasks.sequence import BuildConfig, SequenceBuilder

        bad = [t for t in tasks if t not in MONITOR_TASKS]
        if bad:
            raise ValueError(f"eval.decode_tasks: {bad} cannot be monitored (only {MONITOR_TASKS})")
        prompts = TokenizedPrompts(PromptBank.load(), tokenizer)
        builder = SequenceBuilder(
            layout, tokenizer, prompts, "sft", BuildConfig(prompt_lang="data")
        )
        samples = [s for sc in speech_sets for s in load_speech_set(sc, layout, tokenizer)]
        items = []
        for task in tasks:
            count: dict[str, int] = {}
            for s in samples:
                ref = s.text if task == "asr" else s.translation
                tgt = s.lang if task == "asr" else s.tgt_lang
                if s.codes is None or not ref or not tgt or count.get(s.lang, 0) >= per_lang:
                    continue
                count[s.lang] = count.get(s.lang, 0) + 1
                codes = np.asarray(s.codes)  # LazyCodes are read here, once
                sample = type(s)(s.uttid, lang=s.lang, codes=codes, tgt_lang=tgt)
                prefix = builder.build_prefix(task, sample, prompt_index=prompt_index).tokens
                items.append(MonitorItem(task, s.uttid, s.lang, tgt, prefix, ref))
        return cls(items, tokenizer, max_len)

    def run(self, model) -> tuple[dict, list[dict]]:
        """Decode and score: ``(metrics, per-utterance records)``."""
        import torch

        from espnet_codec_lm.decode.config import DecodingConfig, TextSearchConfig
        from espnet_codec_lm.decode.decoder import Decoder
        from espnet_codec_lm.metrics.text import bleu, error_rate_for_lang, text_lang

        cfg = DecodingConfig(
            text=TextSearchConfig(method="greedy", max_len_ratio=0.0, max_len_offset=self.max_len),
            batch_size=16,
            device="cpu",
        )
        was_training = model.training
        try:
            with torch.no_grad():
                hyps = Decoder(model, cfg, self.tokenizer).decode_text(
                    [it.prefix for it in self.items]
                )
        finally:
            model.train(was_training)
        texts = [self.tokenizer.decode(h.ids).strip() for h in hyps]
        records = [
            {
                "task": it.task,
                "uttid": it.uttid,
                "tgt_lang": it.tgt_lang,
                "ref": it.reference,
                "hyp": t,
            }
            for it, t in zip(self.items, texts)
        ]
        metrics: dict[str, float] = {}
        groups: dict[tuple[str, str], list[int]] = {}
        for i, it in enumerate(self.items):
            groups.setdefault((it.task, it.tgt_lang), []).append(i)
        for (task, lang), idx in sorted(groups.items()):
            refs = [self.items[i].reference for i in idx]
            hs = [texts[i] for i in idx]
            metrics[f"dev_{task}_target_lang_{lang}"] = float(
                np.mean([text_lang(h) == lang for h in hs])
            )
            if task == "asr":
                er = error_rate_for_lang(
                    [self.normalizer(r, lang) for r in refs],
                    [self.normalizer(h, lang) for h in hs],
                    lang,
                )
                metrics[f"dev_asr_{er.unit[0]}er_{lang}"] = round(er.rate, 2)
            else:
                metrics[f"dev_s2tt_bleu_{lang}"] = round(bleu(hs, refs, lang).score, 2)
        return metrics, records


def write_records(path: Path, step: int, records: list[dict]) -> None:
    """Append one line per hypothesis (with the step) to ``path``."""
    with open(path, "a", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps({"step": step, **r}, ensure_ascii=False) + "\n")


def log_examples(records: list[dict], metrics: dict, step: int, n: int = 2) -> None:
    """Two hypotheses per (task, language) next to their references, and the scores."""
    log.info("step %d decoded dev: %s", step, ", ".join(f"{k}={v:.3g}" for k, v in metrics.items()))
    shown: dict[tuple, int] = {}
    for r in records:
        key = (r["task"], r["tgt_lang"])
        if shown.get(key, 0) >= n:
            continue
        shown[key] = shown.get(key, 0) + 1
        log.info("  %s %s REF: %s", r["task"], r["uttid"], r["ref"])
        log.info("  %s %s HYP: %s", r["task"], r["uttid"], r["hyp"])
