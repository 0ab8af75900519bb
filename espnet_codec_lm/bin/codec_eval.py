"""Evaluate a codec's resynthesis on a test set with 1, 2, 3, 4 and 8 codebooks.

Metrics: mel distance, SI-SNR, PESQ (wide-band, ``pesq`` package) and STOI (``pystoi``), plus
each codebook's usage (fraction of codes used, perplexity) on the test set. Writes
``results.{yaml,md}``, ``per_utt.tsv`` and spectrogram PNGs to ``--out_dir``. With
``--export_to`` the evaluated codec is copied there with a README (provenance + the table): the
one command that refreshes the mini recipe's shipped codec from a training run.

Usage:
    # evaluate the latest checkpoint of a training run
    python -m espnet_codec_lm.bin.codec_eval --codec_dir exp/codec_debug/codec \
        --data data/test --out_dir exp/codec_debug/eval
    # ... and ship it as the mini recipe's embedded default
    python -m espnet_codec_lm.bin.codec_eval --codec_dir /work/codec_run/exp_debug/codec \
        --data /work/codec_run/data/test --out_dir /work/codec_run/exp_debug/eval \
        --export_to egs2/mini_bilingual/codec_lm1/pretrained/codec
    # a quick look: 10 utterances, 3 and 8 codebooks, no PESQ
    python -m espnet_codec_lm.bin.codec_eval --codec_dir exp/codec_debug/codec \
        --data data/test --out_dir /tmp/ev --max_utts 10 --n_q 3 8 --no_pesq
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from espnet_codec_lm.utils.logging import setup_logging


def get_parser() -> argparse.ArgumentParser:
    """Command-line flags of ``codec_eval``."""
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--codec_dir", required=True, help="dir with config.yaml + model.safetensors")
    p.add_argument("--data", required=True, help="test data dir (wav.scp [+ segments]) or wav.scp")
    p.add_argument("--out_dir", required=True, help="where results and plots go")
    p.add_argument("--n_q", type=int, nargs="+", default=[1, 2, 3, 4, 8], help="codebooks")
    p.add_argument("--max_utts", type=int, default=0, help="first N utterances only (0 = all)")
    p.add_argument("--num_plots", type=int, default=3, help="spectrogram PNGs to draw")
    p.add_argument("--no_pesq", action="store_true", help="skip PESQ (the slowest metric)")
    p.add_argument("--export_to", default=None, help="copy the codec + README (with the table)")
    p.add_argument("--data_note", default="", help="how the data was made (for the README)")
    p.add_argument("--num_threads", type=int, default=1, help="torch threads")
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    args = get_parser().parse_args(argv)

    log = setup_logging("codec_eval")
    try:
        import torch

        # lazy: codec/ imports torch, which --help does not need
        from espnet_codec_lm.codec.audio import iter_audio
        from espnet_codec_lm.codec.evaluate import evaluate, results_markdown
        from espnet_codec_lm.codec.export import export_pretrained, snapshot_codec
        from espnet_codec_lm.codec.model import export_weights, load_codec

        torch.set_num_threads(args.num_threads)
        codec_dir = Path(args.codec_dir)
        if args.export_to:
            # a running training rewrites codec_dir: evaluate and ship one consistent copy
            codec_dir = snapshot_codec(codec_dir, Path(args.out_dir) / "codec_evaluated")
            # evaluate exactly what is shipped (fp16 weights)
            export_weights(codec_dir / "model.safetensors", codec_dir / "model.safetensors")
        codec = load_codec(codec_dir)
        utts = list(iter_audio(args.data, codec.sample_rate, args.max_utts))
        if not utts:
            raise ValueError(f"{args.data}: no utterances")
        summary = evaluate(
            codec, utts, args.n_q, args.out_dir, args.num_plots, with_pesq=not args.no_pesq
        )
        print(results_markdown(summary))
        if args.export_to:
            cmd = "python -m espnet_codec_lm.bin.codec_eval " + shlex.join(
                sys.argv[1:] if argv is None else argv
            )
            export_pretrained(
                codec_dir,
                args.export_to,
                summary,
                cmd,
                args.data_note,
                exp_dir=Path(args.codec_dir).parent,
            )
            log.info("exported %s -> %s", args.codec_dir, args.export_to)
    except (ValueError, FileNotFoundError, RuntimeError) as e:
        log.error("%s", e)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
