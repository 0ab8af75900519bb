"""Validate a Kaldi data directory; optionally write a cleaned / filtered copy.

Prints one line per problem (file, line, utterance id, what is wrong) and exits 1 when there is
any. With ``--out``, writes a new directory (the input is never modified): ``--skip_bad true``
drops the utterances that have problems (their count and ids are reported and written to
``OUT/skipped_utts``), and the duration / text-length filters drop what is outside the limits
(``OUT/filtered_utts``).

Usage:
    python -m espnet_codec_lm.bin.validate_data_dir data/train
    python -m espnet_codec_lm.bin.validate_data_dir data/train --check_audio false   # text only
    # clean + filter into a new directory (what stage 2 of the recipe does)
    python -m espnet_codec_lm.bin.validate_data_dir data/train --out data/train_clean \\
        --skip_bad true --min_duration 0.5 --max_duration 20
    python -m espnet_codec_lm.bin.validate_data_dir data/train --out data/train_short \\
        --config conf/filter.yaml max_text_length=200 text_unit=word
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from typing import Literal

from espnet_codec_lm.config import ConfigError, load_config
from espnet_codec_lm.data.data_dir import write_data_dir
from espnet_codec_lm.data.kaldi_io import DataDirError, write_table
from espnet_codec_lm.data.validate import clean_data_dir, validate_data_dir
from espnet_codec_lm.utils.logging import setup_logging


@dataclass
class ValidateConfig:
    """What to check and, with an output directory, what to drop."""

    check_audio: bool = True
    skip_bad: bool = False
    min_duration: float | None = None
    max_duration: float | None = None
    max_text_length: int | None = None
    text_unit: Literal["char", "word"] = "char"
    nj: int = 2


FLAGS = ("check_audio", "skip_bad", "min_duration", "max_duration", "max_text_length", "text_unit")


def get_parser() -> argparse.ArgumentParser:
    """Command-line flags (each also settable in ``--config`` or as ``key=value``)."""
    p = argparse.ArgumentParser(
        prog="python -m espnet_codec_lm.bin.validate_data_dir",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("data_dir", help="the Kaldi data directory to check")
    p.add_argument("overrides", nargs="*", help="ValidateConfig fields as key=value")
    p.add_argument("--out", default=None, help="write a cleaned/filtered copy here")
    p.add_argument("--config", default=None, help="YAML of ValidateConfig")
    p.add_argument("--nj", default=None, help="parallel audio checks")
    for name in FLAGS:
        p.add_argument(f"--{name}", default=None, help=f"ValidateConfig.{name}")
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    args = get_parser().parse_intermixed_args(argv)

    log = setup_logging("validate_data_dir")
    overrides = [f"{k}={getattr(args, k)}" for k in (*FLAGS, "nj") if getattr(args, k) is not None]
    try:
        cfg = load_config(ValidateConfig, args.config, [*args.overrides, *overrides])
        dd, problems = validate_data_dir(args.data_dir, cfg.check_audio, cfg.nj)
        for pr in problems:
            print(pr)
        if args.out is None:
            n = len(problems)
            log.info("%s: %d utterances, %d problem(s)", args.data_dir, len(dd), n)
            return 1 if problems else 0
        if problems and not cfg.skip_bad:
            print(
                f"validate_data_dir: {len(problems)} problem(s) in {args.data_dir}; "
                f"nothing written (use --skip_bad true to drop the bad utterances)",
                file=sys.stderr,
            )
            return 1
        dd, skipped = clean_data_dir(dd, problems)
        if skipped:
            log.warning("skipped %d bad utterance(s): %s", len(skipped), " ".join(skipped))
        reasons = {}
        for pr in problems:
            if pr.utt in skipped:
                reasons.setdefault(pr.utt, f"{pr.file}: {pr.message}")
        length = (lambda t: len(t.split())) if cfg.text_unit == "word" else len
        dd, filtered = dd.filter(
            cfg.min_duration, cfg.max_duration, cfg.max_text_length, text_length=length
        )
        if filtered:
            log.info("filtered out %d utterance(s) by duration / text length", len(filtered))
        if not len(dd):
            print(
                f"validate_data_dir: error: {args.data_dir}: no utterance left "
                f"({len(skipped)} skipped as bad, {len(filtered)} filtered by duration / text "
                f"length); nothing written",
                file=sys.stderr,
            )
            return 1
        out = write_data_dir(dd, args.out)
        write_table(out / "skipped_utts", reasons)
        write_table(out / "filtered_utts", filtered)
        print(
            f"validate_data_dir: wrote {out} with {len(dd)} utterances "
            f"({len(skipped)} skipped as bad, {len(filtered)} filtered)"
        )
        return 0
    except (DataDirError, ConfigError, ValueError, OSError) as e:
        print(f"validate_data_dir: error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
