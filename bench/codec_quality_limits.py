"""What limits an inverse-STFT codec's PESQ: bitrate, the decoded magnitude, or the decoded phase?

For each utterance of ``--data`` (every ``--every``-th of ``wav.scp``, at most ``--num``), one
run prints wide-band PESQ of side-by-side variants, all against the original:

- ``codec q=N``: the codec's resynthesis with N codebooks (N from ``--n_q``);
- ``unquantized``: the decoder on the encoder's latent with no quantiser at all;
- ``codec magnitude + original phase``: the decoder's STFT (q = ``--probe_q``) with its phase
  replaced by the original's, inverted by the decoder's own inverse STFT;
- ``original magnitude + codec phase``: the other swap;
- ``STFT round trip``: the original's STFT through the same inverse (the ceiling of the head).

If ``unquantized`` is no better than ``codec q=3``, the bits are not what limits quality; the two
swaps then say whether the magnitude or the phase the decoder predicts costs more.
Needs a codec whose decoder is the inverse-STFT head (``decoder.type: istft``, debug.yaml).

Usage:
    OMP_NUM_THREADS=2 tools/venv/bin/python bench/codec_quality_limits.py \\
        --codec_dir egs2/mini_bilingual/codec_lm1/pretrained/codec --data data/test
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--codec_dir", required=True)
    p.add_argument("--data", required=True, help="a data directory with wav.scp")
    p.add_argument("--num", type=int, default=20, help="utterances at most")
    p.add_argument("--every", type=int, default=5, help="take every k-th utterance")
    p.add_argument("--n_q", type=int, nargs="+", default=[1, 3, 8])
    p.add_argument("--probe_q", type=int, default=3, help="codebooks of the phase swaps")
    p.add_argument("--json", help="also write the means here")
    return p


def variants(codec, wav: torch.Tensor, n_qs: list[int], probe_q: int) -> dict[str, torch.Tensor]:
    """The resyntheses of ``wav [N]`` (N a multiple of the hop) named as in the module doc."""
    from espnet_codec_lm.codec.modules import ISTFT, frame_stft

    dec = codec.decoder
    if not hasattr(dec, "istft") or not isinstance(dec.istft, ISTFT):
        raise SystemExit(f"{type(dec).__name__}: only the inverse-STFT decoder can be probed")
    seen: dict[str, torch.Tensor] = {}
    handle = dec.istft.register_forward_hook(lambda m, inp, out: seen.update(spec=inp[0]))
    out: dict[str, torch.Tensor] = {}
    try:
        for q in n_qs:
            out[f"codec q={q}"] = codec.decode(codec.encode(wav, n_q=q))
        out["unquantized"] = dec(codec.encoder(wav[None]))[0]
        codec.decode(codec.encode(wav, n_q=probe_q))
        spec_hat = seen["spec"][0]
    finally:
        handle.remove()
    spec = frame_stft(wav[None], dec.istft.n_fft, dec.istft.hop)[0]
    t = min(spec.shape[-1], spec_hat.shape[-1])
    spec, spec_hat = spec[:, :t], spec_hat[:, :t]
    swap = {
        f"codec magnitude (q={probe_q}) + original phase": torch.polar(
            spec_hat.abs(), spec.angle()
        ),
        f"original magnitude + codec phase (q={probe_q})": torch.polar(
            spec.abs(), spec_hat.angle()
        ),
        "STFT round trip": spec,
    }
    for name, s in swap.items():
        out[name] = dec.istft(s[None])[0]
    return out


def main(argv: list[str] | None = None) -> int:
    args = get_parser().parse_args(argv)
    from espnet_codec_lm.codec import load_codec
    from espnet_codec_lm.codec.metrics import pesq_score
    from espnet_codec_lm.data.audio import load_audio
    from espnet_codec_lm.data.kaldi_io import read_table, sorted_items
    from espnet_codec_lm.utils.progress import progress

    codec = load_codec(args.codec_dir)
    sr, hop = codec.sample_rate, codec.hop_length
    items = sorted_items(read_table(Path(args.data) / "wav.scp"))[:: args.every][: args.num]
    scores: dict[str, list[float]] = {}
    with torch.no_grad():
        for utt, entry in progress(items, desc="utterances"):
            x = load_audio(entry, sr, utt)
            x = torch.from_numpy(x[: len(x) // hop * hop])
            for name, y in variants(codec, x, args.n_q, args.probe_q).items():
                y = y[: len(x)].numpy()
                scores.setdefault(name, []).append(pesq_score(x.numpy(), y, sr, "wb"))
    means = {k: float(np.nanmean(v)) for k, v in scores.items()}
    print(f"{args.codec_dir}: {len(items)} utterances of {args.data}, PESQ wide-band (mean)")
    for name, value in means.items():
        print(f"  {name:<44s} {value:5.2f}")
    if args.json:
        Path(args.json).write_text(json.dumps(means, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
