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

from espnet_codec_lm.bin._common import run_trainer, train_parser


def get_parser() -> argparse.ArgumentParser:
    """Command-line flags of ``ustokenizer_train``."""
    return train_parser(
        __doc__,
        config_help="USTokenizerTrainConfig YAML",
        kept_keys="max_steps / log_every / valid_every / ckpt_every_s / num_threads",
    )


def _trainer():
    """The config class and the ``train`` function that :func:`run_trainer` runs."""
    # lazy: ustokenizer/ imports torch, which --help does not need
    from espnet_codec_lm.ustokenizer.config import USTokenizerTrainConfig
    from espnet_codec_lm.ustokenizer.trainer import train

    return USTokenizerTrainConfig, train


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    return run_trainer("ustokenizer_train", get_parser().parse_args(argv), argv, _trainer)


if __name__ == "__main__":
    sys.exit(main())
