"""Score one decode directory: the metrics of its task, per sample, averaged over samples.

What is scored follows the decode dir's ``scoring`` mapping (the task template's, written by the
decoder; :class:`~espnet_codec_lm.metrics.layout.ScoringSpec`), not the task's name. For the
paper's tasks:

| task | reference | metrics |
| --- | --- | --- |
| asr | ``text`` | ``wer`` (English) / ``cer`` (Mandarin) |
| s2tt | ``text.<tgt_lang>`` | ``bleu`` |
| tts | ``text``; speaker: ``wav.scp`` | ``wer``/``cer`` of the ASR transcript, ``spk_sim``, ``utmos`` |
| s2st | ``text.<tgt_lang>`` | ``asr_bleu``, ``utmos`` |
| t2st | ``text``; speaker: ``wav.scp`` | ``asr_bleu``, ``spk_sim``, ``utmos`` |

Sampled outputs (``sample_<k>/``) are scored one sample at a time, each as a whole test set
(corpus WER / BLEU, mean SPK-SIM / UTMOS), and the reported value is the mean over samples, as
the paper does for its 5 TTS samples; the per-sample values are kept in ``per_sample``.
Model outputs (ASR transcripts, embeddings' similarities, MOS) are cached per sample under
``scoring_cache/`` so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from pathlib import Path
from typing import Any

import numpy as np

from espnet_codec_lm.metrics.asr import asr_name, load_recognizer
from espnet_codec_lm.metrics.audio import load_audio, read_table
from espnet_codec_lm.metrics.config import ModelUnavailable, ScoringConfig, resolve_device
from espnet_codec_lm.metrics.layout import DecodeDir, References, read_decode_dir, reference_spec
from espnet_codec_lm.metrics.normalize import TextNormalizer, is_char_lang, load_spelling_mapping
from espnet_codec_lm.metrics.speaker import load_speaker_model
from espnet_codec_lm.metrics.text import bleu, error_rate_for_lang, target_lang_share
from espnet_codec_lm.utils.fileio import atomic_open
from espnet_codec_lm.utils.progress import progress

log = logging.getLogger(__name__)

METRIC_KEYS = ("wer", "cer", "bleu", "asr_bleu", "utmos", "spk_sim")
SR = 16000


def not_computed(reason: str) -> str:
    """The value written instead of a number when a metric cannot be computed."""
    return f"not computed: {reason}"


class ModelBank:
    """Loads each configured model once per process and remembers why one is unavailable."""

    def __init__(self, cfg: ScoringConfig) -> None:
        self.cfg = cfg
        self.device = resolve_device(cfg.device)
        self._models: dict[str, Any] = {}

    def get(self, kind: str):
        """The ``asr`` / ``speaker`` / ``mos`` model, or raise :class:`ModelUnavailable`."""
        if kind not in self._models:
            try:
                self._models[kind] = self._load(kind)
            except ModelUnavailable as e:
                log.warning("%s: %s", kind, e)
                self._models[kind] = e
        m = self._models[kind]
        if isinstance(m, ModelUnavailable):
            raise m
        return m

    def _load(self, kind: str):
        if kind == "asr":
            return load_recognizer(self.cfg.asr, self.device)
        if kind == "speaker":
            return load_speaker_model(self.cfg.speaker.path, self.device)
        # lazy: utmos imports torch, needed only when a MOS model is loaded
        from espnet_codec_lm.metrics.utmos import load_mos_model

        return load_mos_model(self.cfg.mos.path, self.device)

    def name(self, kind: str) -> str:
        """How the protocol names a model: ``whisper:whisper-large-v3``, ``rawnet3-vox``, ..."""
        if kind == "asr":
            return asr_name(self.cfg.asr) if self.cfg.asr.kind != "none" else "none"
        c = self.cfg.speaker if kind == "speaker" else self.cfg.mos
        return c.name or (Path(c.path).name if c.path else "none")

    def tag(self, kind: str) -> str:
        """Cache key of a model: changes when its configuration does."""
        c = {"asr": self.cfg.asr, "speaker": self.cfg.speaker, "mos": self.cfg.mos}[kind]
        blob = json.dumps(
            {k: getattr(c, k) for k in vars(c) if k not in ("batch_size", "name")}, sort_keys=True
        )
        if getattr(c, "path", None):
            blob += str(Path(c.path).resolve())
        return hashlib.sha1(blob.encode()).hexdigest()[:10]

    def normaliser(self) -> TextNormalizer:
        if "normaliser" not in self._models:
            n = self.cfg.normaliser
            source = n.english_spelling
            if source is None and self.cfg.asr.kind == "whisper" and self.cfg.asr.path:
                cand = Path(self.cfg.asr.path) / "normalizer.json"
                source = str(cand) if cand.is_file() else None
            mapping = load_spelling_mapping(source) if source else None
            self._models["normaliser"] = TextNormalizer(mapping, source, n.zh_to_simplified)
        return self._models["normaliser"]


def _stamp(*files: Path) -> str:
    """Content + mtime hash of some files (missing ones count as absent)."""
    h = hashlib.sha1()
    for f in files:
        if f.is_file():
            h.update(f.read_bytes() + str(f.stat().st_mtime_ns).encode())
    return h.hexdigest()[:10]


class _Cache:
    """Per-sample model outputs (``utt<TAB>value``) under ``<decode>/scoring_cache/``.

    A file is keyed by the model's configuration and by the sample's ``wav.scp`` (and, for
    SPK-SIM, the references' ``wav.scp``), so re-decoded audio is never scored from a stale cache.
    """

    def __init__(self, dd: DecodeDir, bank: ModelBank, refs: References) -> None:
        self.dir = dd.path / "scoring_cache"
        self.dd = dd
        self.bank = bank
        self.refs = refs

    def _file(self, k: int, kind: str) -> Path:
        folder = dict(self.dd.samples)[k]
        inputs = [folder / "wav.scp"] + ([self.refs.path / "wav.scp"] if kind == "speaker" else [])
        return self.dir / f"sample_{k}.{kind}_{self.bank.tag(kind)}_{_stamp(*inputs)}.tsv"

    def load(self, k: int, kind: str) -> dict[str, str] | None:
        f = self._file(k, kind)
        if not f.is_file():
            return None
        out = {}
        for line in f.read_text(encoding="utf-8").splitlines():
            utt, _, value = line.partition("\t")
            out[utt] = value
        return out

    def save(self, k: int, kind: str, values: dict[str, str]) -> None:
        with atomic_open(self._file(k, kind)) as f:
            for utt, v in values.items():
                f.write(f"{utt}\t{' '.join(str(v).split())}\n")


def _mean(xs: list[float]) -> float:
    return float(np.mean(xs)) if xs else float("nan")


def _hyps(dd: DecodeDir, folder: Path, ref_ids: list[str]) -> dict[str, str]:
    """The hypothesis table of one sample; an id without a reference is an error, and so is a
    file without any entry (a failed decode would otherwise score as all-empty output)."""
    f = dd.hyp_file(folder)
    hyps = read_table(f) if f.stat().st_size else {}
    if not hyps:
        raise ValueError(
            f"{f}: no output for any of the {len(ref_ids)} utterances (did decoding fail?)"
        )
    ref_set = set(ref_ids)
    for utt in hyps:
        if utt not in ref_set:
            raise ValueError(f"{f}: utterance '{utt}' has no reference in the data directory")
    return hyps


def _ids(ids: list[str], limit: int = 5) -> str:
    more = f" (+{len(ids) - limit} more)" if len(ids) > limit else ""
    return " ".join(ids[:limit]) + more


def _error_rates(
    refs: dict[str, str], hyps: dict[str, str], langs: dict[str, str], norm: TextNormalizer, k: int
) -> tuple[dict[str, float], list[tuple]]:
    """WER for word languages, CER for character languages, over the utterances in ``refs``."""
    groups: dict[str, list[str]] = {}
    for u in refs:
        groups.setdefault("cer" if is_char_lang(langs[u]) else "wer", []).append(u)
    values, rows = {}, []
    for name, ids in groups.items():
        r = [norm(refs[u], langs[u]) for u in ids]
        h = [norm(hyps.get(u, ""), langs[u]) for u in ids]
        er = error_rate_for_lang(r, h, langs[ids[0]])
        values[name] = er.rate
        for u, rr, hh, pu in zip(ids, r, h, er.per_utt):
            rows.append((u, k, name, pu.rate, pu.errors, pu.ref_len, hh, rr))
    return values, rows


def _speech_outputs(dd, refs_data, folder, k, ids, bank, cache, need):
    """Run the models in ``need`` on one sample's audio, with the per-sample cache.

    Returns ``{kind: {utt: value}}`` (or the :class:`ModelUnavailable` of a kind); utterances
    without audio in ``wav.scp`` have no value.
    """
    wav_scp = read_table(folder / "wav.scp") if (folder / "wav.scp").stat().st_size else {}
    present = [u for u in ids if u in wav_scp]
    results: dict[str, dict[str, str] | ModelUnavailable] = {}
    todo = []
    for kind in need:
        try:
            bank.get(kind)
        except ModelUnavailable as e:
            results[kind] = e
            continue
        cached = cache.load(k, kind)
        if cached is not None and set(cached) >= set(present):
            results[kind] = cached
        else:
            todo.append(kind)
            results[kind] = {}
    if not todo:
        return results
    langs = refs_data["langs"]
    batch = bank.cfg.asr.batch_size
    for start in progress(range(0, len(present), batch), desc=f"{dd.path.name}/sample_{k}"):
        chunk = present[start : start + batch]
        wavs = []
        for u in chunk:
            try:
                wavs.append(load_audio(wav_scp[u], SR, base=dd.path, utt_id=u))
            except ValueError as e:
                raise ValueError(f"{folder / 'wav.scp'}: utterance '{u}': {e}") from None
        if "asr" in todo:
            asr = bank.get("asr")
            for lang in sorted({langs[u] for u in chunk}):  # one language per call
                sel = [i for i, u in enumerate(chunk) if langs[u] == lang]
                texts = asr.transcribe([wavs[i] for i in sel], SR, lang)
                if len(texts) != len(sel):
                    raise ValueError(f"ASR returned {len(texts)} transcripts for {len(sel)} inputs")
                for i, t in zip(sel, texts):
                    results["asr"][chunk[i]] = t
        for u, w in zip(chunk, wavs):
            if "mos" in todo:
                results["mos"][u] = bank.get("mos").predict(w) if len(w) >= 400 else "nan"
            if "speaker" in todo:
                results["speaker"][u] = _spk_sim(bank.get("speaker"), w, u, refs_data)
    for kind in todo:
        cache.save(k, kind, results[kind])
    return results


def _spk_sim(spk, wav: np.ndarray, utt: str, refs_data: dict) -> float:
    """SPK-SIM of a generated waveform against the reference speech of the same utterance."""
    if len(wav) == 0:
        return float("nan")
    emb = refs_data["emb"].get(utt)
    if emb is None:
        ref = refs_data["refs"].table("wav.scp").get(utt)
        if ref is None:
            raise ValueError(f"{refs_data['path'] / 'wav.scp'}: no reference speech for '{utt}'")
        try:
            ref_wav = load_audio(ref, SR, refs_data["path"], utt_id=utt)
        except ValueError as e:
            raise ValueError(f"{refs_data['path'] / 'wav.scp'}: utterance '{utt}': {e}") from None
        emb = refs_data["emb"][utt] = spk.embed(ref_wav)
    return spk.similarity(spk.embed(wav), emb)


def score(dd: DecodeDir, refs: References, cfg: ScoringConfig, bank: ModelBank | None = None):
    """All metrics of ``dd``: returns (scores mapping for scores.yaml, detail rows)."""
    bank = bank or ModelBank(cfg)
    norm = bank.normaliser()
    ref_file, default_lang = reference_spec(dd)
    ref_text = refs.table(ref_file)
    ids_ref = list(ref_text)
    langs = refs.utt_langs(ids_ref, default_lang, "src_lang/tgt_lang")
    # an empty reference (or one the normaliser empties) has no error rate / BLEU: such
    # utterances are left out of every metric, counted and named
    empty_refs = [u for u in ids_ref if not norm(ref_text[u], langs[u]).strip()]
    if empty_refs:
        log.warning(
            "%s: %d utterance(s) with an empty reference are not scored: %s",
            refs.path / ref_file,
            len(empty_refs),
            _ids(empty_refs),
        )
    ids_all = [u for u in ids_ref if u not in set(empty_refs)]
    if not ids_all:
        raise ValueError(f"{refs.path / ref_file}: every reference is empty")
    per_sample: dict[str, list] = {}
    unavailable: dict[str, str] = {}
    rows: list[tuple] = []
    protocol: dict[str, Any] = {}
    missing_counts = []
    cache = _Cache(dd, bank, refs)
    refs_data = {"langs": langs, "path": refs.path, "emb": {}, "refs": refs}

    empty_hyp_counts, scored_counts = [], []
    dropped: dict[str, set[str]] = {}  # metric -> utterances it could not score
    for k, folder in dd.samples:
        hyps = _hyps(dd, folder, ids_ref)
        ids = [u for u in ids_all if u in hyps] if cfg.ignore_missing else ids_all
        if not ids:
            raise ValueError(f"{dd.hyp_file(folder)}: no decoded utterance to score")
        missing = [u for u in ids_all if u not in hyps]
        missing_counts.append(len(missing))
        scored_counts.append(len(ids))
        if missing:
            how = "ignored" if cfg.ignore_missing else "scored as empty"
            log.warning(
                "%s: %d of %d utterances have no output (%s): %s",
                dd.hyp_file(folder),
                len(missing),
                len(ids_all),
                how,
                _ids(missing),
            )
        if not dd.target_is_speech:
            empty = [u for u in ids if u in hyps and not hyps[u].strip()]
            empty_hyp_counts.append(len(empty))
            if empty:
                log.warning(
                    "%s: %d empty hypothesis/es (scored as empty): %s",
                    dd.hyp_file(folder),
                    len(empty),
                    _ids(empty),
                )
        refs_k = {u: ref_text[u] for u in ids}
        values: dict[str, float] = {}
        spec = dd.scoring
        if not spec.target_is_speech and spec.metric == "error_rate":
            v, r = _error_rates(refs_k, hyps, langs, norm, k)
            values.update(v), rows.extend(r)
            protocol["normaliser"] = norm.describe()
            values["target_lang"] = target_lang_share(
                [hyps.get(u, "") for u in ids], [langs[u] for u in ids]
            )
        elif not spec.target_is_speech:
            b = bleu([hyps.get(u, "") for u in ids], [refs_k[u] for u in ids], dd.tgt_lang)
            values["bleu"] = b.score
            values["target_lang"] = target_lang_share(
                [hyps.get(u, "") for u in ids], [dd.tgt_lang] * len(ids)
            )
            protocol["bleu"] = b.signature
            rows.extend(
                (u, k, "bleu", s, "", "", hyps.get(u, ""), refs_k[u])
                for u, s in zip(ids, b.per_utt)
            )
        else:
            need = ["asr", "mos"] + (["speaker"] if spec.speaker_similarity else [])
            out = _speech_outputs(dd, refs_data, folder, k, ids, bank, cache, need)
            asr_out = out["asr"]
            if isinstance(asr_out, ModelUnavailable):
                for name in (
                    ["asr_bleu"]
                    if spec.metric == "bleu"
                    else sorted({"cer" if is_char_lang(langs[u]) else "wer" for u in ids})
                ):
                    unavailable[name] = str(asr_out)
            else:
                asr_hyps = {u: asr_out.get(u, "") for u in ids}
                protocol["asr"] = bank.name("asr")
                truncated = getattr(bank.get("asr"), "num_truncated", 0)
                if truncated:
                    protocol["asr_inputs_truncated_to_30s"] = truncated
                protocol["normaliser"] = norm.describe()
                if spec.metric == "error_rate":
                    v, r = _error_rates(refs_k, asr_hyps, langs, norm, k)
                    values.update(v), rows.extend(r)
                else:
                    h = [norm(asr_hyps[u], langs[u]) for u in ids]
                    rr = [norm(refs_k[u], langs[u]) for u in ids]
                    b = bleu(h, rr, dd.tgt_lang)
                    values["asr_bleu"] = b.score
                    protocol["bleu"] = b.signature
                    rows.extend(
                        (u, k, "asr_bleu", s, "", "", hh, r_)
                        for u, s, hh, r_ in zip(ids, b.per_utt, h, rr)
                    )
            for kind, name in (("mos", "utmos"), ("speaker", "spk_sim")):
                if kind not in out:
                    continue
                res = out[kind]
                if isinstance(res, ModelUnavailable):
                    unavailable[name] = str(res)
                    continue
                protocol["mos_model" if kind == "mos" else "speaker_model"] = bank.name(kind)
                vals = {u: float(res[u]) for u in ids if u in res and not math.isnan(float(res[u]))}
                unscored = [u for u in ids if u not in vals]
                if unscored:
                    dropped.setdefault(name, set()).update(unscored)
                    log.warning(
                        "%s: %s of %d utterance(s) not computed (no or too short audio), the "
                        "mean is over the other %d: %s",
                        folder,
                        name,
                        len(unscored),
                        len(vals),
                        _ids(unscored),
                    )
                if not vals:
                    unavailable[name] = "no scorable audio"
                    continue
                values[name] = _mean(list(vals.values()))
                rows.extend((u, k, name, x, "", "", "", "") for u, x in vals.items())
        for name, v in values.items():
            per_sample.setdefault(name, []).append(v)

    scores: dict[str, Any] = {
        "task": dd.task,
        "test_set": dd.test_set,
        "src_lang": dd.src_lang,
        "tgt_lang": dd.tgt_lang,
        "num_utts": len(ids_ref),
        "num_samples": dd.num_samples,
        "num_missing": max(missing_counts),
        # the set every metric is over: the references that are not empty, less the
        # missing outputs when they are ignored (per sample if that differs)
        "num_scored": scored_counts[0] if len(set(scored_counts)) == 1 else scored_counts,
        "num_empty_refs": len(empty_refs),
    }
    if empty_refs:
        scores["empty_refs"] = empty_refs
    if empty_hyp_counts:
        scores["num_empty_hyps"] = max(empty_hyp_counts)
    if dropped:  # metrics whose mean is over fewer utterances than num_scored
        scores["dropped"] = {name: sorted(us) for name, us in sorted(dropped.items())}
    for name in METRIC_KEYS:
        if name in per_sample:
            scores[name] = round(_mean(per_sample[name]), 4)
        elif name in unavailable:
            scores[name] = not_computed(unavailable[name])
    if "target_lang" in per_sample:  # % of text outputs in the task's target language (script)
        scores["target_lang"] = round(_mean(per_sample["target_lang"]), 2)
    stopped = (dd.meta.get("stats") or {}).get("share_stopped_within_0.5_2x")
    if stopped is not None:  # % of speech samples that ended on their own near the reference
        scores["stopped_within_0.5_2x"] = round(100.0 * stopped, 2)
    scores["per_sample"] = {k: [round(x, 4) for x in v] for k, v in per_sample.items()}
    protocol.update(
        {
            "seed": dd.meta.get("seed"),
            "decoding": dd.meta.get("decoding"),
            "checkpoint": dd.meta.get("checkpoint"),
            "data_dir": str(refs.path),
            "missing_outputs": "ignored" if cfg.ignore_missing else "scored as empty",
        }
    )
    scores["protocol"] = protocol
    return scores, rows


DETAIL_HEADER = ("utt_id", "sample", "metric", "value", "n_err", "n_ref", "hyp", "ref")


def fingerprint(dd: DecodeDir, refs: References, cfg: ScoringConfig) -> str:
    """Hash of the scoring inputs: config, meta.yaml, hypothesis and reference files."""
    import dataclasses

    files = [dd.path / "meta.yaml"] + [dd.hyp_file(f) for _, f in dd.samples]
    files += refs.files(["text", f"text.{dd.tgt_lang}", "utt2lang", "wav.scp"])
    stamp = [(str(f), f.stat().st_size, f.stat().st_mtime_ns) for f in files if f.is_file()]
    blob = json.dumps([dataclasses.asdict(cfg), stamp], sort_keys=True, default=str)
    return hashlib.sha1(blob.encode()).hexdigest()


def write_outputs(dd: DecodeDir, scores: dict, rows: list[tuple]) -> None:
    """``scores.yaml`` and ``scores_detail.tsv`` beside the outputs, atomically."""
    import yaml

    def cell(x) -> str:
        if isinstance(x, float):
            return "inf" if math.isinf(x) else f"{x:.4f}"
        return " ".join(str(x).split())  # no tabs / newlines inside a cell

    with atomic_open(dd.path / "scores_detail.tsv") as f:
        f.write("\t".join(DETAIL_HEADER) + "\n")
        for row in sorted(rows, key=lambda r: (r[2], r[1], r[0])):
            f.write("\t".join(cell(x) for x in row) + "\n")
    with atomic_open(dd.path / "scores.yaml") as f:
        yaml.safe_dump(scores, f, sort_keys=False, allow_unicode=True)


def score_decode_dir(
    decode_dir: str | Path,
    data_dir: str | Path | None,
    cfg: ScoringConfig,
    bank: ModelBank | None = None,
    force: bool = False,
) -> dict | None:
    """Score one decode dir and write its results; None when it was already scored with the
    same inputs and configuration (``force`` rescores)."""
    import yaml

    dd = read_decode_dir(decode_dir)
    data_dir = data_dir or dd.meta.get("data_dir")
    if not data_dir:
        raise ValueError(f"{dd.path}: give --data_dir (meta.yaml has no data_dir)")
    refs = References(data_dir)
    fp = fingerprint(dd, refs, cfg)
    out = dd.path / "scores.yaml"
    if out.is_file() and not force:
        old = yaml.safe_load(out.read_text(encoding="utf-8")) or {}
        if old.get("fingerprint") == fp:
            log.info("%s: already scored with these inputs (use --force to rescore)", dd.path)
            return None
    scores, rows = score(dd, refs, cfg, bank)
    scores["fingerprint"] = fp
    write_outputs(dd, scores, rows)
    shown = {k: scores[k] for k in METRIC_KEYS if k in scores}
    log.info("%s: %s", dd.path, shown)
    return scores
