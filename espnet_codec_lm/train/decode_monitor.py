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

TTS is not decoded (sampling + an ASR to read the speech is the decode stage's job) but
*teacher-forced twice*: each dev utterance's target codes are scored with its own transcript and
with another utterance's transcript of the same language. ``dev_tts_text_gain_<lang>`` is the
difference (nats per frame, main head: the first codebook and the end token). A model that reads
the text predicts its own speech better with the right text (gain > 0); a model that only
continues speech gains nothing, whatever its loss: at toy scale the loss falls for thousands of
steps while the gain stays ~0 (doc/mini_recipe.md). ``dev_tts_loss_<lang>`` is that loss.

Every rank decodes the same utterances (with FSDP each forward pass needs every rank), and
only the main rank writes.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from espnet_codec_lm.decode.config import DecodingConfig, TextSearchConfig
from espnet_codec_lm.decode.decoder import Decoder
from espnet_codec_lm.decode.inputs import choose_speaker_prompt, target_lang
from espnet_codec_lm.metrics.normalize import TextNormalizer
from espnet_codec_lm.metrics.text import bleu, error_rate_for_lang, text_lang
from espnet_codec_lm.tasks.corpus import load_speech_set
from espnet_codec_lm.tasks.prompts import PromptBank, TokenizedPrompts
from espnet_codec_lm.tasks.sequence import BuildConfig, SequenceBuilder
from espnet_codec_lm.tasks.templates import TASK_NAMES, TEMPLATES, get_template

log = logging.getLogger("train")

#: the speech-target task the monitor scores teacher-forced with the right / a wrong text
TEXT_GAIN_TASK = "tts"


def monitorable(task: str) -> bool:
    """A scored task with a text target and speech input (ASR, S2TT, a registered one) is
    decoded; TTS gets the text gain. Read from the task registry, not a list of names."""
    if task == TEXT_GAIN_TASK:
        return True
    t = TEMPLATES.get(task)
    return bool(
        t is not None
        and t.scoring is not None
        and not t.speech_target
        and any(sg.role == "condition" and sg.modality == "speech" for sg in t.segments)
    )


@dataclass
class TextGainItem:
    """One TTS dev utterance built twice: with its own transcript and with another one's."""

    uttid: str
    lang: str
    right: object  # tasks.sequence.Example
    wrong: object


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

    def __init__(
        self,
        items: list[MonitorItem],
        tokenizer,
        max_len: int = 64,
        text_gain: list[TextGainItem] | None = None,
    ) -> None:
        if not items and not text_gain:
            raise ValueError("decode monitor: no utterance to decode")
        self.items = items
        self.text_gain = text_gain or []
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
        build: BuildConfig | None = None,
        prompt_dir: str | None = None,
    ) -> DecodeMonitor:
        """The first ``per_lang`` utterances of each language of ``speech_sets`` for ``tasks``,
        with the prompt banks of ``prompt_dir`` (the run's ``data.prompt_dir``; default: the
        packaged ones)."""
        bad = [t for t in tasks if not monitorable(t)]
        if bad:
            known = [t for t in TASK_NAMES if monitorable(t)]
            raise ValueError(f"eval.decode_tasks: {bad} cannot be monitored (only {known})")
        prompts = TokenizedPrompts(PromptBank.load(prompt_dir), tokenizer)
        # the run's build settings (e.g. the speaker prompt's length), prompts in the data's lang
        build = replace(build or BuildConfig(), prompt_lang="data")
        builder = SequenceBuilder(layout, tokenizer, prompts, "sft", build)
        samples = [s for sc in speech_sets for s in load_speech_set(sc, layout, tokenizer)]
        items = []
        text_gain = []
        if TEXT_GAIN_TASK in tasks:
            text_gain = _text_gain_items(samples, builder, per_lang, prompt_index)
        for task in tasks:
            if task == TEXT_GAIN_TASK:
                continue
            count: dict[str, int] = {}
            by_transcript = get_template(task).scoring["reference"] == "transcript"
            for s in samples:
                ref = s.text if by_transcript else s.translation
                tgt = target_lang(task, s)
                if s.codes is None or not ref or not tgt or count.get(s.lang, 0) >= per_lang:
                    continue
                count[s.lang] = count.get(s.lang, 0) + 1
                codes = np.asarray(s.codes)  # LazyCodes are read here, once
                sample = type(s)(s.uttid, lang=s.lang, codes=codes, tgt_lang=tgt)
                prefix = builder.build_prefix(task, sample, prompt_index=prompt_index).tokens
                items.append(MonitorItem(task, s.uttid, s.lang, tgt, prefix, ref))
        return cls(items, tokenizer, max_len, text_gain)

    def run(self, model) -> tuple[dict, list[dict]]:
        """Decode and score: ``(metrics, per-utterance records)``."""
        import torch

        cfg = DecodingConfig(
            text=TextSearchConfig(method="greedy", max_len_ratio=0.0, max_len_offset=self.max_len),
            batch_size=16,
            device="cpu",
        )
        was_training = model.training
        try:
            with torch.no_grad():
                hyps = (
                    Decoder(model, cfg, self.tokenizer).decode_text(
                        [it.prefix for it in self.items]
                    )
                    if self.items
                    else []
                )
                gains = [(_target_nll(model, g.right), _target_nll(model, g.wrong))
                         for g in self.text_gain]  # fmt: skip
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
            if get_template(task).scoring["metric"] == "error_rate":
                er = error_rate_for_lang(
                    [self.normalizer(r, lang) for r in refs],
                    [self.normalizer(h, lang) for h in hs],
                    lang,
                )
                metrics[f"dev_{task}_{er.unit[0]}er_{lang}"] = round(er.rate, 2)
            else:
                metrics[f"dev_{task}_bleu_{lang}"] = round(bleu(hs, refs, lang).score, 2)
        by_lang: dict[str, list[tuple[float, float]]] = {}
        for g, (right, wrong) in zip(self.text_gain, gains):
            by_lang.setdefault(g.lang, []).append((right, wrong))
            records.append({"task": TEXT_GAIN_TASK, "uttid": g.uttid, "tgt_lang": g.lang,
                            "loss": round(right, 4), "loss_wrong_text": round(wrong, 4)})  # fmt: skip
        for lang, pairs in sorted(by_lang.items()):
            right = float(np.mean([r for r, _ in pairs]))
            metrics[f"dev_tts_loss_{lang}"] = round(right, 4)
            metrics[f"dev_tts_text_gain_{lang}"] = round(
                float(np.mean([w for _, w in pairs])) - right, 4
            )
        return metrics, records


def _text_gain_items(samples, builder, per_lang: int, prompt_index: int) -> list[TextGainItem]:
    """The first ``per_lang`` TTS-able utterances per language, each with the speaker prompt the
    decode stage would give it and, for the wrong build, the next one's transcript (same
    language, a different text)."""
    pool = [s for s in samples if s.codes is not None and s.text]
    by_speaker: dict[str, list[int]] = {}
    for i, s in enumerate(pool):
        if s.speaker is not None:
            by_speaker.setdefault(s.speaker, []).append(i)
    n_prompt = int(round(builder.cfg.sft_speaker_prompt_s * builder.cfg.frame_rate))
    out: list[TextGainItem] = []
    count: dict[str, int] = {}
    for i, s in enumerate(pool):
        if count.get(s.lang, 0) >= per_lang:
            continue
        other = next(
            (o for o in pool[i + 1 :] + pool[:i] if o.lang == s.lang and o.text != s.text), None
        )
        if other is None:
            continue
        count[s.lang] = count.get(s.lang, 0) + 1
        prompt = np.asarray(choose_speaker_prompt(pool, i, n_prompt, by_speaker)[0])
        s = replace(s, codes=np.asarray(s.codes), speaker_prompt=prompt)
        wrong = replace(s, text=other.text, text_ids=other.text_ids)
        rng = np.random.default_rng(0)
        build = {"prompt_lang": s.lang, "prompt_index": prompt_index, "train": False}
        out.append(
            TextGainItem(
                s.uttid,
                s.lang,
                builder.build(TEXT_GAIN_TASK, s, rng, **build),
                builder.build(TEXT_GAIN_TASK, wrong, rng, **build),
            )  # fmt: skip
        )
    return out


def _target_nll(model, example) -> float:
    """Mean NLL of the main head over the example's target (teacher-forced, one forward)."""
    import torch

    tokens = torch.as_tensor(example.tokens)[None]
    labels = torch.as_tensor(example.labels())[None]
    device = next(model.parameters()).device
    with torch.no_grad():
        out = model(tokens.to(device), labels=labels[..., :1].to(device))
    return float(out.loss_sum[0] / out.count[0].clamp_min(1))


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
        if "hyp" not in r:  # TTS: teacher-forced losses, in the metrics line
            continue
        key = (r["task"], r["tgt_lang"])
        if shown.get(key, 0) >= n:
            continue
        shown[key] = shown.get(key, 0) + 1
        log.info("  %s %s REF: %s", r["task"], r["uttid"], r["ref"])
        log.info("  %s %s HYP: %s", r["task"], r["uttid"], r["hyp"])
