r"""Encode a data directory into USTokens: ``<out_dir>/ustokens.{ark,scp}`` (kaldiio).

Each utterance is stored as an int16 array ``[T, 1]``, one code in ``[0, 1024)`` per 40 ms
(``T = ceil(samples / 640)`` at 16 kHz). Same behaviour as ``codec_tokenize``: ``--nj`` shards
the work over processes, an interrupted run resumes where it stopped, a finished one
(``ustokens.scp`` present) is skipped, and ``ustokens.yaml`` records the tokenizer's and the
audio list's checksums (a rerun with other settings is refused unless ``--redo``).

Usage:
    python -m espnet_codec_lm.bin.ustokenizer_tokenize --model_dir exp/ustokenizer_mini/model \
        --data data/train --out_dir dump/ustokens/train
"""

from __future__ import annotations

import argparse
import sys

from espnet_codec_lm.bin._common import add_tokenize_io, add_tokenize_run, cli_parser, run_stage


def get_parser() -> argparse.ArgumentParser:
    """Command-line flags of ``ustokenizer_tokenize``."""
    p = cli_parser(__doc__)
    add_tokenize_io(p, "--model_dir")
    add_tokenize_run(
        p,
        name="ustokens",
        name_help="output base name",
        redo_help="remove this --name's outputs in --out_dir and start over (needed when they "
        "were made with another USTokenizer or data)",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    args = get_parser().parse_args(argv)

    def body(log):
        # lazy: ustokenizer/ imports torch, which --help does not need
        from espnet_codec_lm.ustokenizer.tokenize import tokenize

        scp = tokenize(
            args.model_dir, args.data, args.out_dir, args.nj, args.name, args.scp_name, args.redo
        )
        log.info("wrote %s", scp)

    return run_stage("ustokenizer_tokenize", body)


if __name__ == "__main__":
    sys.exit(main())
