r"""Collect every scored experiment under an exp root into RESULTS.md, in the paper's tables.

Reads ``<exp_root>/**/decode_*/scores.yaml`` (written by ``bin/score``), the system name of each
experiment from the nearest ``system.yaml``, and ``ppl.yaml`` (held-out text perplexity), and
writes RESULTS.md with the ASR, TTS, S2TT and S2ST tables (systems as rows, the paper's numbers as
reference rows, the evaluation protocol under each table), a perplexity (forgetting) table, and
a PNG bar chart per table beside it.

Usage:
    python -m espnet_codec_lm.bin.report --exp_root exp --output RESULTS.md
    python -m espnet_codec_lm.bin.report --exp_root egs2/mini_bilingual/codec_lm1/exp \
        --output egs2/mini_bilingual/codec_lm1/RESULTS.md plots=false
    python -m espnet_codec_lm.bin.report --config conf/report.yaml
"""

from __future__ import annotations

import argparse
import dataclasses
import sys

from espnet_codec_lm.config import load_config
from espnet_codec_lm.metrics.report import render
from espnet_codec_lm.utils.logging import setup_logging


@dataclasses.dataclass
class ReportConfig:
    """What to collect and where to write it."""

    exp_root: str = "exp"
    output: str = "RESULTS.md"
    title: str = "Results"
    plots: bool = True  # PNG bar chart per table, beside the output


def get_parser() -> argparse.ArgumentParser:
    """Command-line interface."""
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__[__doc__.index("Usage:") :],
    )
    p.add_argument("--config", default=None, help="YAML with ReportConfig keys (optional)")
    p.add_argument("--exp_root", default=None, help="directory holding the experiments")
    p.add_argument("--output", default=None, help="markdown file to write")
    p.add_argument("overrides", nargs="*", help="key=value overrides (title=..., plots=false)")
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    args = get_parser().parse_args(argv)

    log = setup_logging("report")
    overrides = list(args.overrides)
    if args.exp_root:
        overrides.append(f"exp_root={args.exp_root}")
    if args.output:
        overrides.append(f"output={args.output}")
    try:
        cfg = load_config(ReportConfig, args.config, overrides)
        render(cfg.exp_root, cfg.output, plots=cfg.plots, title=cfg.title)
    except ValueError as e:
        log.error("%s", e)
        return 1
    log.info("wrote %s", cfg.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
