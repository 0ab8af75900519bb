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


def get_parser() -> argparse.ArgumentParser:
    """Command-line flags of ``ustokenizer_tokenize``."""
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--model_dir", required=True, help="dir with config.yaml + model.safetensors")
    p.add_argument("--data", required=True, help="Kaldi data dir (or a wav.scp file)")
    p.add_argument("--out_dir", required=True, help="where <name>.{ark,scp} are written")
    p.add_argument("--nj", type=int, default=1, help="parallel processes")
    p.add_argument("--name", default="ustokens", help="output base name")
    p.add_argument("--scp_name", default="wav.scp", help="audio list inside --data")
    p.add_argument(
        "--redo",
        action="store_true",
        help="remove this --name's outputs in --out_dir and start over (needed when they were "
        "made with another USTokenizer or data)",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    args = get_parser().parse_args(argv)
    from espnet_codec_lm.utils.logging import setup_logging

    log = setup_logging("ustokenizer_tokenize")
    try:
        from espnet_codec_lm.ustokenizer.tokenize import tokenize

        scp = tokenize(
            args.model_dir, args.data, args.out_dir, args.nj, args.name, args.scp_name, args.redo
        )
        log.info("wrote %s", scp)
    except (ValueError, FileNotFoundError) as e:
        log.error("%s", e)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
