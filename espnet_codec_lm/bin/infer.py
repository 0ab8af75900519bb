"""Run one task on one input with a trained speech LM: ASR, TTS, S2TT or S2ST.

Text outputs are printed (and written to ``--out`` if given); speech outputs are written to
``--out`` as a WAV at the codec's rate. Input audio at another rate is resampled. ``--lm`` may be
a pack of ``bin/pack``, also one of several models (``tasks.yaml``): ``--task`` picks the model
and its decode config. See ``espnet_codec_lm/inference.py`` for the Python API behind it.

Usage:
    # TTS in the voice of a prompt (its first 3 s)
    python -m espnet_codec_lm.bin.infer --lm exp/lm_sft_tts --codec pretrained/codec \\
        --task tts --text "the cat sat on the mat." --prompt_wav prompt.wav --out y.wav

    # ASR / S2TT (text on stdout)
    python -m espnet_codec_lm.bin.infer --lm exp/lm_sft_asr --codec pretrained/codec \\
        --task asr --wav in.wav
    python -m espnet_codec_lm.bin.infer --lm exp/lm_sft_s2tt --codec pretrained/codec \\
        --task s2tt --wav in.wav --target_lang zh

    # S2ST EN -> ZH, greedy heads instead of sampling (config override)
    python -m espnet_codec_lm.bin.infer --lm exp/lm_sft_s2st --codec pretrained/codec \\
        --task s2st --wav in.wav --target_lang zh --out out.wav decoding.speech.method=greedy
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from espnet_codec_lm.utils.fileio import atomic_path, atomic_write_text
from espnet_codec_lm.utils.logging import setup_logging

TASKS = ("asr", "tts", "s2tt", "s2st")


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--task", required=True, choices=TASKS)
    p.add_argument(
        "--lm",
        required=True,
        help="pack (bin/pack; of several models: the task's one), LM experiment or checkpoint",
    )
    p.add_argument("--codec", default=None, help="codec directory (default <experiment>/codec)")
    p.add_argument(
        "--config",
        default=None,
        help="decode YAML (LMDecodeConfig); default: the pack's decode/<task>.yaml, if any",
    )
    p.add_argument("--wav", default=None, help="input speech (asr, s2tt, s2st)")
    p.add_argument("--text", default=None, help="input text (tts)")
    p.add_argument("--prompt_wav", default=None, help="speaker prompt (tts; first 3 s used)")
    p.add_argument("--target_lang", default=None, help="en or zh (s2tt, s2st)")
    p.add_argument("--lang", default=None, help="prompt / text language (default: detected/en)")
    p.add_argument("--out", default=None, help="output WAV (tts, s2st) or text file (asr, s2tt)")
    p.add_argument("overrides", nargs="*", help="key=value config overrides (dotted keys)")
    return p


def _read_wav(path: str | None, flag: str, task: str):
    if not path:
        raise ValueError(f"--task {task} needs {flag}")
    import soundfile as sf

    if not Path(path).is_file():
        raise ValueError(f"{path}: no such audio file ({flag})")
    try:
        wav, sr = sf.read(path, dtype="float32", always_2d=False)
    except Exception as e:  # libsndfile's error types vary
        raise ValueError(f"{path}: cannot read audio: {str(e).splitlines()[0]}") from None
    return wav, int(sr)


def run(args) -> str | None:
    """Run the task; returns the text output (None for speech outputs)."""
    # lazy: inference imports torch and transformers, which --help does not need
    from espnet_codec_lm.inference import SpeechLMInference, task_config

    task = args.task
    if task in ("tts", "s2st") and not args.out:
        raise ValueError(f"--task {task} needs --out (a WAV file)")
    if task == "tts" and (args.text is None or not args.text.strip()):
        raise ValueError("--task tts needs a non-empty --text")
    if task == "s2tt" and not args.target_lang:
        raise ValueError("--task s2tt needs --target_lang (en or zh)")
    if args.out and Path(args.out).is_dir():  # before the models are loaded
        raise ValueError(f"--out {args.out}: is a directory (give a file name)")
    wav = _read_wav(args.wav, "--wav", task) if task != "tts" else None
    prompt = _read_wav(args.prompt_wav, "--prompt_wav", task) if task == "tts" else None

    cfg = task_config(args.lm, task, args.config, args.overrides)
    m = SpeechLMInference(args.lm, codec=args.codec, config=cfg, task=task)
    if task == "asr":
        text = m.asr(*wav, lang=args.lang)
    elif task == "s2tt":
        text = m.s2tt(*wav, target_lang=args.target_lang, src_lang=args.lang)
    else:
        import soundfile as sf

        if task == "tts":
            out = m.tts(args.text, *prompt, lang=args.lang)
        else:
            out = m.s2st(*wav, target_lang=args.target_lang or "zh", src_lang=args.lang)
        with atomic_path(args.out) as tmp:
            sf.write(str(tmp), out.clip(-1, 1), m.sample_rate, subtype="PCM_16")
        return None
    if args.out:
        atomic_write_text(args.out, text + "\n")
    return text


def main(argv: list[str] | None = None) -> int:
    args = get_parser().parse_args(argv)

    log = setup_logging("infer")
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # the per-load weight bar would bury our own log lines
    try:
        text = run(args)
    except (ValueError, OSError) as e:
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        print(f"infer: error: {msg}", file=sys.stderr)
        return 1
    if text is not None:
        print(text)
    else:
        log.info("wrote %s", args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
