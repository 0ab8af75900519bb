r"""Train a USTokenizer (DualSpeechLM's understanding-driven speech tokenizer; doc/dualspeechlm.md).

Resumes from ``<exp_dir>/checkpoint/`` when it exists (rerun the same command after a crash or a
kill); ``--no_resume`` starts over. The latest model is always in ``<exp_dir>/model/``
(config.yaml + model.safetensors), what ``ustokenizer_tokenize`` reads.

Usage:
    # mini scale: log-mel front end, the mini recipe's text LLM (CPU, minutes)
    python -m espnet_codec_lm.bin.ustokenizer_train \
        --config egs2/TEMPLATE/codec_lm1/conf/ustokenizer/mini.yaml --exp_dir exp/ustokenizer_mini \
        data.train=data/train data.valid=data/dev model.text_llm.path=exp/text_llm/hf
    # paper scale: Whisper-medium and a Qwen-class text LLM from local directories (GPU)
    python -m espnet_codec_lm.bin.ustokenizer_train \
        --config egs2/TEMPLATE/codec_lm1/conf/ustokenizer/paper.yaml --exp_dir exp/ustokenizer \
        data.train=data/train data.valid=data/dev model.frontend.path=/local/hf/whisper-medium \
        model.text_llm.path=/local/hf/Qwen2.5-0.5B
"""

from __future__ import annotations

import argparse
import sys


def get_parser() -> argparse.ArgumentParser:
    """Command-line flags of ``ustokenizer_train``."""
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--config", required=True, help="USTokenizerTrainConfig YAML")
    p.add_argument("--exp_dir", required=True, help="experiment directory (checkpoints, logs)")
    p.add_argument("--no_resume", action="store_true", help="ignore an existing checkpoint")
    p.add_argument(
        "--allow_config_change",
        action="store_true",
        help="resume although the config differs from the experiment's config.yaml in more than "
        "max_steps / log_every / valid_every / ckpt_every_s / num_threads (each change is logged)",
    )
    p.add_argument("overrides", nargs="*", help="key=value config overrides, e.g. max_steps=100")
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    args = get_parser().parse_args(argv)
    from espnet_codec_lm.utils.logging import setup_logging

    log = setup_logging("ustokenizer_train")
    try:
        from espnet_codec_lm.config import load_config
        from espnet_codec_lm.ustokenizer.config import USTokenizerTrainConfig
        from espnet_codec_lm.ustokenizer.trainer import train
        from espnet_codec_lm.utils.provenance import command_line

        cfg = load_config(USTokenizerTrainConfig, args.config, args.overrides)
        command = command_line("python -m espnet_codec_lm.bin.ustokenizer_train", argv)
        train(
            cfg,
            args.exp_dir,
            resume=not args.no_resume,
            command=command,
            allow_config_change=args.allow_config_change,
        )
    except (ValueError, FileNotFoundError) as e:
        log.error("%s", e)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
