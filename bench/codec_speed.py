"""Codec speed: encode + decode real-time factor of our debug codec vs two peers, in one run.

Peers of similar size and the same frame rate (50 Hz at 16 kHz, hop 320), random weights (no
download; weights do not change the cost):

- ``snac``: the SNAC codec (pure torch), encoder rates 2-4-5-8, three 1,024-code VQ levels all
  at 50 Hz (``vq_strides=[1, 1, 1]``), local attention off, widths picked for ~4M parameters;
- ``espnet-seanet``: ESPnet-Codec's SoundStream / EnCodec generator (SEANet encoder + decoder,
  ESPnet's RVQ), 16 filters, 64-dim latent, ~3.7M parameters.

Each codec encodes ``--seconds`` of audio to 3 codebooks and decodes it back; the figure is the
fastest of ``--repeats`` runs (least disturbed by other processes on a shared CPU). RTF =
processing seconds / audio seconds; the ratio is ours / peer (goal: <= 1.0).

Usage:
    OMP_NUM_THREADS=1 tools/venv/bin/python bench/codec_speed.py
    tools/venv/bin/python bench/codec_speed.py --seconds 4 --repeats 2 --threads 2
    tools/venv/bin/python bench/codec_speed.py --json /tmp/codec_speed.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEBUG_CONFIG = ROOT / "egs2/TEMPLATE/codec_lm1/conf/codec/debug.yaml"


def n_params(module) -> float:
    return sum(p.numel() for p in module.parameters()) / 1e6


def ours():
    from espnet_codec_lm.codec import SoundStreamCodec
    from espnet_codec_lm.codec.config import CodecTrainConfig
    from espnet_codec_lm.config import load_config

    codec = SoundStreamCodec(load_config(CodecTrainConfig, DEBUG_CONFIG).model).eval()
    return codec, lambda wav: codec.decode(codec.encode(wav[0, 0], 3))


def snac_peer():
    from snac import SNAC

    model = SNAC(
        sampling_rate=16000,
        encoder_dim=28,
        encoder_rates=[2, 4, 5, 8],
        decoder_dim=384,
        decoder_rates=[8, 5, 4, 2],
        attn_window_size=None,
        codebook_size=1024,
        codebook_dim=8,
        vq_strides=[1, 1, 1],
    ).eval()
    return model, lambda wav: model.decode(model.encode(wav))


def espnet_peer():
    import torch
    from espnet2.gan_codec.shared.decoder.seanet import SEANetDecoder
    from espnet2.gan_codec.shared.encoder.seanet import SEANetEncoder
    from espnet2.gan_codec.shared.quantizer.residual_vq import ResidualVectorQuantizer

    enc = SEANetEncoder(dimension=64, n_filters=16, ratios=[8, 5, 4, 2], lstm=2)
    dec = SEANetDecoder(dimension=64, n_filters=16, ratios=[8, 5, 4, 2], lstm=2)
    rvq = ResidualVectorQuantizer(dimension=64, codebook_dim=64, n_q=8, bins=1024)
    model = torch.nn.ModuleList([enc, dec, rvq]).eval()

    def run(wav):
        codes = rvq.encode(enc(wav), sample_rate=50, bandwidth=1.5)  # 3 codebooks at 50 Hz
        return dec(rvq.decode(codes))

    return model, run


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=10.0, help="audio length")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=1, help="torch threads")
    p.add_argument("--json", default=None, help="also write the results here")
    args = p.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    n = int(args.seconds * 16000) // 320 * 320
    wav = 0.1 * torch.randn(1, 1, n)
    results = {}
    for name, build in (("ours", ours), ("snac", snac_peer), ("espnet-seanet", espnet_peer)):
        model, run = build()
        with torch.inference_mode():
            out = run(wav)  # warm-up (allocations, k-means-free ESPnet RVQ init)
            best = float("inf")
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                out = run(wav)
                best = min(best, time.perf_counter() - t0)
        results[name] = {
            "params_M": round(n_params(model), 2),
            "seconds": round(best, 4),
            "rtf": round(best / args.seconds, 5),
            "out_samples": int(out.shape[-1]),
        }
    print(f"encode + decode of {args.seconds:g} s at 16 kHz, 3 codebooks, {args.threads} thread(s)")
    print(f"{'codec':<15}{'params (M)':>11}{'time (s)':>10}{'RTF':>9}{'ours / peer':>13}")
    for name, r in results.items():
        ratio = results["ours"]["seconds"] / r["seconds"]
        r["ours_over_peer"] = round(ratio, 3)
        print(
            f"{name:<15}{r['params_M']:>11.2f}{r['seconds']:>10.3f}{r['rtf']:>9.4f}{ratio:>12.2f}x"
        )
    worst = max(r["ours_over_peer"] for k, r in results.items() if k != "ours")
    print(
        f"goal ours <= 1.0x every peer's time: {'met' if worst <= 1.0 else 'NOT met'} "
        f"(worst ratio {worst:.2f}x)"
    )
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
