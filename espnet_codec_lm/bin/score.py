r"""Score decoding outputs: WER/CER, BLEU, ASR-BLEU, SPK-SIM and UTMOS, per the decode dir's task.

Reads ``<decode_dir>/meta.yaml`` and the outputs laid out as in doc/design.md ("Decoding
outputs"), compares them with the references of the Kaldi data directory, and writes
``scores.yaml`` and ``scores_detail.tsv`` beside them (atomically). A decode dir already scored
with the same inputs and configuration is skipped. Model-based metrics use the local models named
in the config; a metric whose model is not configured reads ``"not computed: <reason>"``.

Usage:
    # text outputs (ASR, S2TT): no model needed
    python -m espnet_codec_lm.bin.score --decode_dir exp/lm_sft_asr/decode_asr_test_clean \
        --data_dir data/test_clean
    # speech outputs (TTS, S2ST): ASR + speaker + MOS models from a scoring config
    python -m espnet_codec_lm.bin.score --config conf/score.yaml \
        --decode_dir exp/lm_sft_tts/decode_tts_test --decode_dir exp/lm_sft_s2st/decode_s2st_test
    # override a config key, rescore
    python -m espnet_codec_lm.bin.score --config conf/score.yaml asr.kind=none --force \
        --decode_dir exp/lm_sft_tts/decode_tts_test --data_dir data/test

See doc/metrics.md for the config keys and the evaluation protocol.
"""

from __future__ import annotations

import argparse
import sys

from espnet_codec_lm.config import load_config
from espnet_codec_lm.metrics.config import ScoringConfig
from espnet_codec_lm.metrics.scoring import ModelBank, score_decode_dir
from espnet_codec_lm.utils.logging import setup_logging


def get_parser() -> argparse.ArgumentParser:
    """Command-line interface."""
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__[__doc__.index("Usage:") :],
    )
    p.add_argument(
        "--config", default=None, help="scoring YAML (ScoringConfig); default: no models"
    )
    p.add_argument(
        "--decode_dir", action="append", required=True, help="a decode dir (repeat for more)"
    )
    p.add_argument(
        "--data_dir", default=None, help="reference data dir (default: data_dir in meta.yaml)"
    )
    p.add_argument("--force", action="store_true", help="rescore even if already scored")
    p.add_argument("overrides", nargs="*", help="config overrides key=value (e.g. asr.kind=none)")
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    args = get_parser().parse_args(argv)

    log = setup_logging("score")
    try:
        cfg = load_config(ScoringConfig, args.config, args.overrides)
        bank = ModelBank(cfg)  # models load once for all decode dirs
        for d in args.decode_dir:
            score_decode_dir(d, args.data_dir, cfg, bank, force=args.force)
    except ValueError as e:  # ConfigError is a ValueError: one line, no traceback
        log.error("%s", e)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
