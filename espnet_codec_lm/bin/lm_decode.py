"""Decode a test set with a speech LM: text hypotheses (ASR, S2TT) or sampled speech (TTS, S2ST).

Reads a Kaldi data dir and its codes, builds each utterance's ``<Condition><Prompt>`` prefix,
decodes (beam search for text targets, top-k sampling over the parallel heads for speech
targets, KV cache, batched) and writes ``<exp>/decode_<task>_<set>/`` as doc/design.md
("Decoding outputs") fixes it: ``text``, or ``sample_<k>/{wav.scp,codes.ark,codes.scp,wav/}``,
and ``meta.yaml`` last. A rerun skips finished utterances; outputs are written atomically.

Usage:
    # ASR with beam 8 on the mini recipe's test set
    python -m espnet_codec_lm.bin.lm_decode --config conf/decode/asr.yaml \\
        --data_dir data/test --codes dump/codes/test/codes.scp --lm exp/lm_sft_asr

    # TTS: 5 samples per sentence (top-k 30, temperature 1.5), WAVs through the codec
    python -m espnet_codec_lm.bin.lm_decode --config conf/decode/tts.yaml \\
        --data_dir data/test --codes dump/codes/test/codes.scp --lm exp/lm_sft_tts \\
        --codec pretrained/codec

    # S2TT into Mandarin, beam 4, first 20 utterances, other output directory
    python -m espnet_codec_lm.bin.lm_decode --config conf/decode/s2tt.yaml \\
        --data_dir data/test_en --codes dump/codes/test_en/codes.scp --lm exp/lm_sft_s2tt \\
        --out_dir exp/lm_sft_s2tt/decode_s2tt_test_en_beam4 tgt_lang=zh \\
        decoding.text.beam_size=4 max_utts=20
"""

from __future__ import annotations

import argparse
import sys

from espnet_codec_lm.config import load_config
from espnet_codec_lm.decode.config import LMDecodeConfig
from espnet_codec_lm.utils.logging import setup_logging


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--config", default=None, help="decode YAML (LMDecodeConfig)")
    p.add_argument("--data_dir", required=True, help="Kaldi data directory of the test set")
    p.add_argument("--codes", required=True, help="codes.scp of the test set (tokenize stage)")
    p.add_argument("--lm", required=True, help="LM experiment directory or checkpoint directory")
    p.add_argument(
        "--codec", default=None, help="codec directory (speech targets; default <exp>/codec)"
    )
    p.add_argument("--out_dir", default=None, help="default: <exp>/decode_<task>_<set name>")
    p.add_argument(
        "--acoustic_codes",
        default=None,
        help="DualSpeechLM only: the codec's codes.scp of the test set (--codes then holds its "
        "USTokens)",
    )
    p.add_argument(
        "--ust_frame_rate", type=float, default=25.0, help="DualSpeechLM: USTokens per second"
    )
    p.add_argument(
        "--overwrite", action="store_true", help="delete earlier outputs in --out_dir first"
    )
    p.add_argument("overrides", nargs="*", help="key=value config overrides (dotted keys)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = get_parser().parse_args(argv)

    log = setup_logging("lm_decode")
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # the per-load weight bar would bury our own log lines
    # lazy: decode.stage imports torch and transformers, which --help does not need
    from espnet_codec_lm.decode.stage import run_lm_decode

    try:
        cfg = load_config(LMDecodeConfig, args.config, args.overrides)
        out = run_lm_decode(
            cfg, args.data_dir, args.codes, args.lm, args.codec, args.out_dir, args.overwrite,
            args.acoustic_codes, args.ust_frame_rate,
        )  # fmt: skip
    except (ValueError, FileNotFoundError) as e:  # config, data, checkpoint errors: one line
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        print(f"lm_decode: error: {msg}", file=sys.stderr)
        return 1
    log.info("outputs in %s", out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
