"""Decoding speed of the speech LM: KV cache vs full recomputation, batching, real-time factor.

All in one run, for two model sizes with random weights (which do not change the cost): the
debug model (Qwen2 hidden 256, 4 layers, 8,192 text rows + 3 x 1,024 codes: ~11k vocabulary,
9.5M parameters), where Python overhead weighs most, and a realistic one (``--sizes``
``base``: hidden 768, 12 layers, 16,384 text rows: ~110M parameters, the size class the paper's
goals are about; fewer frames, ``--base-frames``, so that full recomputation ends in minutes on a
CPU). A TTS-shaped prefix (a 3 s speaker prompt = 150 frames + text + task prompt, ~200
positions):

1. 500 speech frames (10 s at 50 frames/s), batch 1, with the transformers KV cache vs
   recomputing the whole sequence at every step (goal >= 20x);
2. throughput (frames/s) decoding 8 inputs in one batch vs one at a time (goal >= 5x);
3. the real-time factor of TTS on this CPU: LM seconds per second of audio, and LM + codec
   decoder (the mini recipe's debug codec shape, ``conf/codec/debug.yaml``) per second of audio.

Sampling is top-k 30 / temperature 1.5 as in the paper, with the end token suppressed so that
every run generates exactly the frames asked for. Every figure is the fastest of ``--repeats``
runs (least disturbed by other processes on a shared CPU).

Usage:
    OMP_NUM_THREADS=2 tools/venv/bin/python bench/decode_speed.py            # debug + base
    tools/venv/bin/python bench/decode_speed.py --sizes debug --frames 200 --repeats 1  # quicker
    tools/venv/bin/python bench/decode_speed.py --device cuda --sizes qwen0.5b
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default="debug,base", help=f"comma list of {', '.join(SIZES)}")
    p.add_argument("--codebook-size", type=int, default=1024)
    p.add_argument("--frames", type=int, default=500, help="speech frames per input (debug)")
    p.add_argument("--base-frames", type=int, default=100, help="frames for the larger sizes")
    p.add_argument("--prefix", type=int, default=200, help="prefix positions")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--repeats", type=int, default=3, help="runs per figure (fastest kept)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="cpu")
    p.add_argument("--codec-config", default="egs2/TEMPLATE/codec_lm1/conf/codec/debug.yaml")
    p.add_argument("--out", default="bench/results/decode_speed.json")
    args = p.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    all_results = {}
    for size in args.sizes.split(","):
        if size not in SIZES:
            p.error(f"--sizes: unknown size {size!r} (one of {', '.join(SIZES)})")
        frames = args.frames if size == "debug" else args.base_frames
        all_results[size] = bench_size(args, size, frames)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"args": vars(args), **all_results}, indent=2) + "\n")
    print(f"(written to {out})")


#: hidden, layers, heads, ffn, text rows
SIZES = {
    "debug": (256, 4, 4, 688, 8192),
    "base": (768, 12, 12, 2048, 16384),
    "qwen0.5b": (1024, 24, 16, 2816, 151936),
}


def bench_size(args, size: str, frames: int) -> dict:
    """The three figures for one model size; returns them."""
    import numpy as np
    import torch
    from transformers import Qwen2Config

    from espnet_codec_lm.decode.config import DecodingConfig, SpeechSamplingConfig
    from espnet_codec_lm.decode.decoder import Decoder
    from espnet_codec_lm.lm.model import SpeechLM
    from espnet_codec_lm.lm.vocab import STREAM_PAD, VocabLayout

    hidden, layers, heads, ffn, text_rows = SIZES[size]
    torch.manual_seed(0)
    lay = VocabLayout(text_rows, text_rows, 3, args.codebook_size)
    config = Qwen2Config(
        vocab_size=lay.size,
        hidden_size=hidden,
        intermediate_size=ffn,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=heads,
        max_position_embeddings=4096,
        tie_word_embeddings=False,
    )
    model = SpeechLM(config, lay).to(args.device).eval()
    n_params = sum(p.numel() for p in model.parameters())

    rng = np.random.default_rng(0)

    def prefix(n: int) -> np.ndarray:
        """text, speaker prompt frames, task prompt, <speech_start> (n positions in all)."""
        n_frames = min(150, n - 2)
        n_text = n - n_frames - 1
        out = np.full((n, 3), STREAM_PAD, np.int64)
        out[:n_text, 0] = rng.integers(0, text_rows, n_text)
        out[n_text : n_text + n_frames] = lay.codes_to_ids(
            rng.integers(0, args.codebook_size, (n_frames, 3))
        )
        out[-1, 0] = lay.speech_start
        return out

    prefixes = [prefix(args.prefix - 3 * i) for i in range(args.batch)]

    def run(inputs, use_cache=True, batch_size=1, frames=frames, repeats=None) -> float:
        speech = SpeechSamplingConfig(
            num_samples=1, min_len=frames, max_len_cap=frames, max_len_offset=frames
        )
        dec = Decoder(
            model, DecodingConfig(speech=speech, batch_size=batch_size, use_cache=use_cache)
        )
        best = float("inf")
        for _ in range(repeats or args.repeats):
            t0 = time.perf_counter()
            out = dec.decode_speech(inputs)
            best = min(best, time.perf_counter() - t0)
            assert all(len(h[0].codes) == frames for h in out)
        return best

    run(prefixes[:1], frames=20)  # warm-up
    print(
        f"{size} model: {n_params / 1e6:.1f}M parameters, vocabulary {lay.size}, "
        f"{args.threads} threads, prefix {args.prefix} positions, {frames} frames"
    )
    results: dict = {"params_M": round(n_params / 1e6, 2), "vocab": lay.size}

    cached = run(prefixes[:1])
    full = run(prefixes[:1], use_cache=False, repeats=1)  # the slow one: once
    results["cache"] = {"cached_s": cached, "recompute_s": full, "speedup": full / cached}
    print(
        f"1. {frames} frames, batch 1: KV cache {cached:.2f} s ({frames / cached:.0f} "
        f"frames/s), full recomputation {full:.2f} s -> {full / cached:.1f}x (goal >= 20x)"
    )

    one = run(prefixes, batch_size=1, repeats=1)  # already batch x the work of one run
    many = run(prefixes, batch_size=args.batch)
    n = args.batch * frames
    results["batch"] = {
        "batch1_frames_per_s": n / one,
        f"batch{args.batch}_frames_per_s": n / many,
        "speedup": one / many,
    }
    print(
        f"2. {args.batch} inputs: one by one {n / one:.0f} frames/s, batch {args.batch} "
        f"{n / many:.0f} frames/s -> {one / many:.1f}x (goal >= 5x)"
    )

    audio_s = frames / 50.0
    rtf_lm = cached / audio_s
    line = f"3. real-time factor (batch 1): LM {rtf_lm:.3f}"
    results["rtf"] = {"lm": rtf_lm}
    if Path(args.codec_config).is_file():
        from espnet_codec_lm.codec.model import SoundStreamCodec, codec_model_config_from_yaml

        codec = SoundStreamCodec(codec_model_config_from_yaml(args.codec_config)).eval()
        codes = torch.randint(0, args.codebook_size, (3, frames))
        with torch.inference_mode():
            codec.decode(codes[:, :20])
            t0 = time.perf_counter()
            codec.decode(codes)
            codec_s = time.perf_counter() - t0
        rtf_all = (cached + codec_s) / audio_s
        results["rtf"].update({"codec_decode_s": codec_s, "lm_plus_codec": rtf_all})
        line += f", LM + codec decoder {rtf_all:.3f} ({audio_s:.0f} s of audio in "
        line += f"{cached + codec_s:.2f} s)"
    print(line)
    return results


if __name__ == "__main__":
    main()
