"""One training step of the SpeechLM vs a bare ``Qwen2ForCausalLM`` of the same size and vocabulary.

Both models get the same positions (batch x length) and the same extended vocabulary; ours also
sums the L' codebook embeddings of speech frames (half the positions) and runs the parallel heads
on speech targets. A step is zero_grad + forward + loss + backward + AdamW step. The two are
timed alternately (after warm-up); the headline ratio uses each model's fastest step (the least
disturbed by other processes on a shared CPU), the medians are printed too. Goal: <= 1.15x.

Usage:
    OMP_NUM_THREADS=2 tools/venv/bin/python bench/lm_step.py
    tools/venv/bin/python bench/lm_step.py --hidden 512 --layers 8 --text-rows 16384 --steps 5
    tools/venv/bin/python bench/lm_step.py --device cuda --dtype bfloat16 --batch 8 --length 2048
"""

from __future__ import annotations

import argparse
import statistics
import time


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--ffn", type=int, default=688)
    p.add_argument("--text-rows", type=int, default=8192, help="text embedding rows")
    p.add_argument("--streams", type=int, default=3)
    p.add_argument("--codebook-size", type=int, default=1024)
    p.add_argument("--batch", type=int, default=2)
    p.add_argument("--length", type=int, default=512)
    p.add_argument("--steps", type=int, default=6, help="timed steps per model")
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--speech-fraction", type=float, default=0.5)
    p.add_argument("--device", default="cpu")
    p.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    p.add_argument("--attn", default="sdpa", choices=["sdpa", "eager"])
    args = p.parse_args()

    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    from espnet_codec_lm.lm.labels import shift_labels
    from espnet_codec_lm.lm.model import SpeechLM, parameter_count
    from espnet_codec_lm.lm.vocab import STREAM_PAD, VocabLayout

    torch.manual_seed(0)
    layout = VocabLayout(
        text_vocab_size=args.text_rows,
        text_rows=args.text_rows,
        num_streams=args.streams,
        codebook_size=args.codebook_size,
    )
    config = Qwen2Config(
        vocab_size=layout.size,
        hidden_size=args.hidden,
        intermediate_size=args.ffn,
        num_hidden_layers=args.layers,
        num_attention_heads=args.heads,
        num_key_value_heads=args.heads,
        max_position_embeddings=max(4096, args.length),
        tie_word_embeddings=False,
    )
    config._attn_implementation = args.attn
    dtype = getattr(torch, args.dtype)
    ours = SpeechLM(config, layout).cast_parameters(dtype).to(args.device).train()
    bare = Qwen2ForCausalLM(config).to(dtype=dtype, device=args.device).train()

    # the same positions: text tokens and speech frames (stream 0 = codebook 1 for frames)
    B, T = args.batch, args.length
    tokens = torch.full((B, T, layout.num_streams), STREAM_PAD)
    tokens[..., 0] = torch.randint(0, layout.text_vocab_size, (B, T))
    speech = torch.rand(B, T) < args.speech_fraction
    codes = torch.randint(0, layout.codebook_size, (int(speech.sum()), layout.num_streams))
    tokens[speech] = torch.as_tensor(layout.codes_to_ids(codes.numpy()))
    labels = shift_labels(tokens, torch.ones(B, T, dtype=torch.bool))
    tokens, labels = tokens.to(args.device), labels.to(args.device)
    input_ids = tokens[..., 0]  # bare Qwen2: stream 0 only; it shifts the labels itself

    opt_ours = torch.optim.AdamW(ours.parameters(), lr=1e-4)
    opt_bare = torch.optim.AdamW(bare.parameters(), lr=1e-4)

    def sync() -> None:
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()

    def step_ours() -> float:
        opt_ours.zero_grad(set_to_none=True)
        out = ours(tokens, labels=labels)
        out.loss.backward()
        opt_ours.step()
        return out.loss.item()

    def step_bare() -> float:
        opt_bare.zero_grad(set_to_none=True)
        out = bare(input_ids=input_ids, labels=input_ids, use_cache=False)
        out.loss.backward()
        opt_bare.step()
        return out.loss.item()

    # wall time, and on CPU also this process's CPU time (all threads), which time slices
    # taken by other processes on a shared machine do not inflate
    times: dict[str, list[float]] = {"ours": [], "bare": []}
    cpu: dict[str, list[float]] = {"ours": [], "bare": []}
    for i in range(args.warmup + args.steps):
        for name, fn in (("bare", step_bare), ("ours", step_ours)):
            sync()
            t0, c0 = time.perf_counter(), time.process_time()
            fn()
            sync()
            if i >= args.warmup:
                times[name].append(time.perf_counter() - t0)
                cpu[name].append(time.process_time() - c0)

    med = {k: statistics.median(v) for k, v in times.items()}
    best = {k: min(v) for k, v in times.items()}
    n_ours = parameter_count(ours)["total"]
    n_bare = sum(q.numel() for q in bare.parameters())
    threads = torch.get_num_threads()
    print(
        f"LM step  device={args.device} threads={threads} dtype={args.dtype} attn={args.attn} "
        f"hidden={args.hidden} layers={args.layers} vocab={layout.size} "
        f"positions={B}x{T} speech={args.speech_fraction:.0%}"
    )
    for name, label, n in (("bare", "bare Qwen2ForCausalLM", n_bare), ("ours", "SpeechLM", n_ours)):
        print(
            f"  {label:22s} {n / 1e6:7.2f}M params  best {best[name] * 1e3:8.1f} ms/step  "
            f"median {med[name] * 1e3:8.1f} ms/step"
        )
    ratio = best["ours"] / best["bare"]
    verdict = "ok" if ratio <= 1.15 else "ABOVE GOAL"
    print(
        f"  ratio ours/bare = {ratio:.3f}x best, {med['ours'] / med['bare']:.3f}x median "
        f"(goal <= 1.15x: {verdict})"
    )
    if args.device == "cpu":
        c = {k: statistics.median(v) for k, v in cpu.items()}
        print(
            f"  process CPU time per step: bare {c['bare'] * 1e3:.1f} ms, ours "
            f"{c['ours'] * 1e3:.1f} ms, ratio {c['ours'] / c['bare']:.3f}x"
        )


if __name__ == "__main__":
    main()
