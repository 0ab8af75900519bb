"""Prepare a corpus as Kaldi data directories (what every recipe's ``local/data.sh`` calls).

Usage:
    # the synthetic bilingual corpus (no download): train/ dev/ test/ text_pool/ under data/
    python -m espnet_codec_lm.bin.prepare_data --corpus mini_bilingual --out data --nj 2
    python -m espnet_codec_lm.bin.prepare_data --corpus mini_bilingual --out /tmp/mini \\
        --size tiny --seed 3
    # corpus options as key=value overrides (here: a bigger training set)
    python -m espnet_codec_lm.bin.prepare_data --corpus mini_bilingual --out data \\
        utts_per_speaker.train=120 n_en_speakers=12
    # a real corpus lying on disk
    python -m espnet_codec_lm.bin.prepare_data --corpus librispeech --src /db/LibriSpeech \\
        --out data --subsets train-clean-100 dev-clean test-clean

Corpora are registered in ``espnet_codec_lm/data/corpora/__init__.py``. Bad input ends the run
with one line naming the file and utterance, and a non-zero exit status.
"""

from __future__ import annotations

import argparse
import sys

from espnet_codec_lm.config import ConfigError
from espnet_codec_lm.data.corpora import prepare
from espnet_codec_lm.utils.logging import setup_logging


def get_parser() -> argparse.ArgumentParser:
    """Command-line flags."""
    p = argparse.ArgumentParser(
        prog="python -m espnet_codec_lm.bin.prepare_data",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--corpus", required=True, help="registered corpus name, e.g. mini_bilingual")
    p.add_argument("--src", default=None, help="corpus root on disk (unused by generated corpora)")
    p.add_argument("--out", required=True, help="output directory receiving <subset>/ data dirs")
    p.add_argument("--subsets", nargs="*", default=None, help="subsets to prepare (default: all)")
    p.add_argument("--nj", type=int, default=2, help="parallel jobs")
    p.add_argument("--size", default=None, help="mini_bilingual: tiny | default | large")
    p.add_argument("--seed", type=int, default=None, help="generated corpora: random seed")
    p.add_argument("--config", default=None, help="YAML of corpus-specific options")
    p.add_argument("overrides", nargs="*", help="corpus options as key=value")
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    args = get_parser().parse_intermixed_args(argv)
    import time

    log = setup_logging("prepare_data")
    options = {}
    for key in ("size", "seed", "config"):
        if getattr(args, key) is not None:
            options[key] = getattr(args, key)
    if args.overrides:
        options["overrides"] = args.overrides
    t0 = time.time()
    try:
        result = prepare(args.corpus, args.src, args.out, args.subsets, args.nj, **options)
    except (ValueError, ConfigError, OSError) as e:
        print(f"prepare_data: error: {e}", file=sys.stderr)
        return 1
    except TypeError as e:  # an option the chosen corpus does not take
        print(f"prepare_data: error: corpus '{args.corpus}': {e}", file=sys.stderr)
        return 2
    elapsed = time.time() - t0
    if isinstance(result, dict) and "splits" in result:
        import yaml

        summary = {k: result[k] for k in ("splits", "total_hours", "vocabulary_all_text")}
        print(yaml.safe_dump(summary, sort_keys=False, allow_unicode=True), end="")
    log.info("prepared %s in %s: %.1f s", args.corpus, args.out, elapsed)
    print(f"prepare_data: {args.corpus} -> {args.out} in {elapsed:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
