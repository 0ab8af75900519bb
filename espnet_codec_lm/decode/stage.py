"""The decode stage: one task on one test set, written to a decode directory (``bin/lm_decode``).

Steps: load the LM (and its tokenizer) from a checkpoint or experiment directory; read the test
set (data dir + ``codes.scp``) and build the prefixes (:mod:`espnet_codec_lm.decode.inputs`);
skip the utterances already written; decode the rest in batches (:class:`Decoder`), writing
each batch as soon as it is done; for speech targets synthesise every sample with the codec;
assemble the final files and ``meta.yaml`` (:mod:`espnet_codec_lm.decode.outputs`).
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from espnet_codec_lm.decode.config import LMDecodeConfig
from espnet_codec_lm.decode.decoder import Decoder
from espnet_codec_lm.decode.inputs import load_decode_set, target_lang
from espnet_codec_lm.decode.loading import (
    experiment_dir,
    find_codec_dir,
    load_codec_dir,
    load_lm,
    resolve_checkpoint,
)
from espnet_codec_lm.decode.outputs import DecodeDir
from espnet_codec_lm.decode.speech_sampling import row_seed
from espnet_codec_lm.dual.data import load_acoustic
from espnet_codec_lm.dual.model import DualSpeechLM, is_dual_checkpoint
from espnet_codec_lm.dual.render import AcousticRenderer
from espnet_codec_lm.tasks.templates import get_template
from espnet_codec_lm.utils.progress import progress

log = logging.getLogger("lm_decode")


def default_out_dir(lm: str | Path, task: str, data_dir: str | Path) -> Path:
    """``<experiment>/decode_<task>_<test set name>``."""
    exp = experiment_dir(resolve_checkpoint(lm))
    return exp / f"decode_{task}_{Path(data_dir).resolve().name}"


def synthesize(codec, codes: np.ndarray) -> np.ndarray:
    """Codec-local codes ``[T, L']`` -> waveform (a frame of silence when there are none)."""
    if len(codes) == 0:
        return np.zeros(codec.hop_length, dtype=np.float32)
    with torch.inference_mode():
        wav = codec.decode(torch.as_tensor(codes.T, dtype=torch.long, device=codec_device(codec)))
    return wav.float().cpu().numpy()


def codec_device(codec) -> torch.device:
    """Where the codec's weights live (CPU for a codec without parameters)."""
    params = getattr(codec, "parameters", None)
    first = next(iter(params()), None) if params is not None else None
    return first.device if first is not None else torch.device("cpu")


def run_lm_decode(
    cfg: LMDecodeConfig,
    data_dir: str | Path,
    codes: str | Path,
    lm: str | Path,
    codec: str | Path | None = None,
    out_dir: str | Path | None = None,
    overwrite: bool = False,
    acoustic_codes: str | Path | None = None,
    ust_frame_rate: float = 25.0,
) -> Path:
    """Decode ``data_dir`` with the LM at ``lm``; returns the decode directory.

    A DualSpeechLM (``lm`` holds ``dual.json``) reads ``codes`` as USTokens (``ust_frame_rate``
    per second) and, for speech targets, renders each sample into codec codes with its acoustic
    decoder (:mod:`espnet_codec_lm.dual.render`); ``acoustic_codes`` is then the codec's
    ``codes.scp`` of the test set (speaker prompts, reference lengths)."""
    dcfg = cfg.decoding
    if dcfg.num_threads > 0:
        torch.set_num_threads(dcfg.num_threads)
    model, tokenizer, ckpt = load_lm(lm, dcfg.dtype, dcfg.device)
    speech = cfg.target_is_speech
    dual = is_dual_checkpoint(ckpt)
    codec_model, codec_dir = None, None
    if (speech and cfg.write_wav) or codec is not None:  # also gives the frame rate
        codec_dir = find_codec_dir(codec, lm)
        codec_model = load_codec_dir(codec_dir, dcfg.device)
    frame_rate = float(codec_model.frame_rate) if codec_model is not None else 50.0
    lm_rate = ust_frame_rate if dual else frame_rate  # frames per second of the LM's speech
    dset = load_decode_set(cfg, data_dir, codes, model.layout, tokenizer, lm_rate)
    renderer, acoustic = None, {}
    if dual and speech:
        if acoustic_codes is None:
            raise ValueError(f"{ckpt}: a DualSpeechLM needs --acoustic_codes (the codec's codes)")
        dual_model = DualSpeechLM.from_pretrained(ckpt, llm=model)  # the LLM loaded above
        streams, size = dual_model.acoustic.num_streams, dual_model.acoustic.codebook_size
        acoustic = load_acoustic([str(acoustic_codes)], streams, size)
        renderer = AcousticRenderer(
            dual_model, cfg.task, acoustic, dset.speaker_prompts, frame_rate / lm_rate,
            int(round(cfg.speaker_prompt_s * frame_rate)), dcfg.speech.top_k,
            dcfg.speech.temperature, seed=dcfg.seed,
        )  # fmt: skip
    if not dset.samples:
        raise ValueError(
            f"{data_dir}: no utterance left to decode for task {cfg.task} (skipped: "
            f"{dset.skipped}); check src_lang / tgt_lang"
        )
    out = Path(out_dir) if out_dir else default_out_dir(lm, cfg.task, data_dir)
    settings = {
        "task": cfg.task,
        "checkpoint": str(ckpt.resolve()),
        "data_dir": str(Path(data_dir).resolve()),
        "config": asdict(cfg),
    }
    settings["config"]["decoding"].pop("batch_size")  # batching does not change the outputs
    settings["config"]["decoding"].pop("num_threads")
    settings["config"].pop("max_utts")
    ddir = DecodeDir(out, speech, dcfg.speech.num_samples, settings, overwrite)
    todo = [i for i, u in enumerate(dset.ids) if not ddir.done(u)]
    log.info(
        "%s: %d utterances, %d to decode (%s target) -> %s",
        cfg.task,
        len(dset.ids),
        len(todo),
        "speech" if speech else "text",
        out,
    )
    decoder = Decoder(model, dcfg, tokenizer)
    prefixes = [dset.prefixes[i] for i in todo]
    keys = [dset.ids[i] for i in todo]
    langs = [target_lang(cfg.task, dset.samples[i]) for i in todo]
    t0, lm_time, units = time.perf_counter(), 0.0, 0
    bar = progress(total=len(todo), desc=f"decode {cfg.task}", unit="utt")
    if speech:
        uncond = None if dset.uncond_prefixes is None else [dset.uncond_prefixes[i] for i in todo]
        it = decoder.iter_speech(prefixes, keys, uncond)
    else:
        it = decoder.iter_text(prefixes, keys, langs)
    tick = time.perf_counter()
    for results in it:
        lm_time += time.perf_counter() - tick
        for j, hyp in results:
            uttid = keys[j]
            if speech:
                codes_k = [h.codes for h in hyp]
                units += sum(len(c) for c in codes_k)
                finished = [h.finished for h in hyp]
                if renderer is not None:  # DualSpeechLM: USTokens -> acoustic codes
                    seeds = [row_seed(dcfg.seed, uttid, k) for k in range(len(hyp))]
                    rendered = renderer.render(uttid, prefixes[j], codes_k, seeds)
                    codes_k = [c for c, _ in rendered]
                    finished = [f and ended for f, (_, ended) in zip(finished, rendered)]
                wavs = [synthesize(codec_model, c) for c in codes_k] if codec_model else None
                sr = codec_model.sample_rate if codec_model else 16000
                ddir.write_speech(uttid, codes_k, finished, wavs, sr)
            else:
                units += len(hyp.ids) + 1
                info = {"ids": hyp.ids, "score": hyp.score, "finished": hyp.finished}
                ddir.write_text(uttid, tokenizer.decode(hyp.ids), info)
        bar.update(len(results))
        tick = time.perf_counter()
    bar.close()
    elapsed = time.perf_counter() - t0
    meta = {
        "task": cfg.task,
        "scoring": get_template(cfg.task).scoring,  # what metrics/ scores, from the template
        "test_set": Path(data_dir).resolve().name,
        "data_dir": str(Path(data_dir).resolve()),
        "codes": str(Path(codes).resolve()),
        "src_lang": dset.src_lang,
        "tgt_lang": dset.tgt_lang,
        "checkpoint": str(ckpt.resolve()),
        "codec": str(Path(codec_dir).resolve()) if codec_dir else None,
        "seed": dcfg.seed,
        "num_samples": dcfg.speech.num_samples if speech else 1,
        "write_wav": bool(speech and cfg.write_wav),
        "decoding": asdict(cfg),
        "stats": {
            "skipped": dset.skipped,
            "decoded_this_run": len(todo),
            "lm_seconds_this_run": round(lm_time, 2),
            "total_seconds_this_run": round(elapsed, 2),
            "positions_per_second": round(units / lm_time, 1) if lm_time > 0 else None,
        },
    }
    tables = {"speaker_prompt": dset.speaker_prompts} if dset.speaker_prompts else None
    ref_frames = None
    if speech:  # the reference's length: the utterance's own speech, or its S2ST target
        to_target = get_template(cfg.task).uses_target_speech
        ref_of = (lambda s: s.codes_tgt) if to_target else (lambda s: s.codes)
        ref_frames = {s.uttid: len(ref_of(s)) for s in dset.samples if ref_of(s) is not None}
        if renderer is not None:  # in acoustic frames: the USTokens' count x the rate ratio
            ref_frames = {u: int(round(n * renderer.ratio)) for u, n in ref_frames.items()}
    meta = ddir.finalize(dset.ids, meta, tables, ref_frames)
    log.info("done: %s", meta["stats"])
    return out
