"""Encode a data directory into codec codes: ``<out_dir>/codes.{ark,scp}`` (kaldiio).

Each utterance is stored as an integer array ``[T, n_q]`` (frames x codebooks; int16 for
codebooks of up to 32,768 codes, else int32), ``n_q`` = 3 by default (the LM's L'). ``--nj``
shards the work over processes; an interrupted run resumes where it stopped when rerun, and a
finished one (``codes.scp`` present) is skipped. ``codes.yaml`` records the codec checksum,
``n_q``, codebook size and frame rate and the audio list's checksum; a rerun with other
settings is refused unless ``--redo``. ``--batch_size`` utterances of the same number of frames
are encoded together on ``--device`` (auto: CUDA when available); the codes are the same as one
at a time (doc/codec.md, "Devices and multiple processes").

Usage:
    python -m espnet_codec_lm.bin.codec_tokenize \
        --codec_dir egs2/mini_bilingual/codec_lm1/pretrained/codec \
        --data data/train --out_dir dump/codes/train --nj 2
    # S2ST target speech of the same data dir
    python -m espnet_codec_lm.bin.codec_tokenize --codec_dir exp/codec_debug/codec \
        --data data/train --scp_name wav_tgt.scp --name codes_tgt --out_dir dump/codes/train
"""

from __future__ import annotations

import argparse
import sys

from espnet_codec_lm.bin._common import add_tokenize_io, add_tokenize_run, cli_parser, run_stage


def get_parser() -> argparse.ArgumentParser:
    """Command-line flags of ``codec_tokenize``."""
    p = cli_parser(__doc__)
    add_tokenize_io(p, "--codec_dir")
    p.add_argument("--n_q", type=int, default=3, help="codebooks (streams) to keep")
    p.add_argument(
        "--batch_size",
        type=int,
        default=16,
        help="utterances encoded together (of equal frame counts: the same codes as 1)",
    )
    p.add_argument(
        "--device",
        choices=["auto", "cpu", "cuda"],
        default="auto",
        help="where the codec runs (auto: CUDA when available; --nj processes share it)",
    )
    add_tokenize_run(
        p,
        name="codes",
        name_help="output base name (codes_tgt for S2ST)",
        redo_help="remove this --name's outputs in --out_dir (codes, shards, <name>.yaml) and "
        "start over (needed when they were made with another codec, --n_q or data)",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    args = get_parser().parse_args(argv)

    def body(log):
        # lazy: codec/ imports torch, which --help does not need
        from espnet_codec_lm.codec.tokenize import tokenize

        scp = tokenize(
            args.codec_dir,
            args.data,
            args.out_dir,
            args.n_q,
            args.nj,
            args.name,
            args.scp_name,
            redo=args.redo,
            batch_size=args.batch_size,
            device=args.device,
        )
        log.info("wrote %s", scp)

    return run_stage("codec_tokenize", body)


if __name__ == "__main__":
    sys.exit(main())
