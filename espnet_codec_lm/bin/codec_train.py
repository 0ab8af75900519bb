"""Train a speech codec (SoundStream-style generator, DAC-style discriminators and losses).

Resumes from ``<exp_dir>/checkpoint/`` (or a pre-2026-12 ``checkpoint.pt``) when it exists (rerun the same command after a crash or
a kill); ``--no_resume`` starts over. The latest generator is always exported to
``<exp_dir>/codec/`` (config.yaml + model.safetensors, what ``load_codec`` and the other codec
stages take).

Usage:
    # the mini recipe's codec on the mini corpus (CPU, 1 thread, hours; resumable)
    python -m espnet_codec_lm.bin.codec_train \
        --config egs2/TEMPLATE/codec_lm1/conf/codec/debug.yaml --exp_dir exp/codec_debug \
        data.train=data/train data.valid=data/dev
    # a 20-step smoke run
    python -m espnet_codec_lm.bin.codec_train \
        --config egs2/TEMPLATE/codec_lm1/conf/codec/debug.yaml --exp_dir /tmp/codec_smoke \
        data.train=data/train max_steps=20 log_every=5
    # the paper's configuration (Appendix A; needs GPUs to finish 1.6M steps)
    python -m espnet_codec_lm.bin.codec_train \
        --config egs2/TEMPLATE/codec_lm1/conf/codec/paper.yaml --exp_dir exp/codec_paper \
        data.train=data/train data.valid=data/dev
    # the same on 2 GPUs (DDP; data.batch_size, 6, is the global batch: 3 per GPU), bf16
    torchrun --standalone --nproc_per_node 2 -m espnet_codec_lm.bin.codec_train \
        --config egs2/TEMPLATE/codec_lm1/conf/codec/paper.yaml --exp_dir exp/codec_paper \
        data.train=data/train data.valid=data/dev precision=bf16

``device`` (auto|cpu|cuda) and ``precision`` (fp32|bf16) are config keys; see doc/codec.md,
"Devices and multiple processes".
"""

from __future__ import annotations

import argparse
import sys

from espnet_codec_lm.bin._common import run_trainer, train_parser


def get_parser() -> argparse.ArgumentParser:
    """Command-line flags of ``codec_train``."""
    return train_parser(
        __doc__,
        config_help="codec training YAML (CodecTrainConfig)",
        kept_keys="max_steps / log_every / valid_every / ckpt_every_s / keep_snapshots / "
        "num_threads / data.valid / device / precision",
    )


def _trainer():
    """The config class and the ``train`` function that :func:`run_trainer` runs."""
    # lazy: codec/ imports torch, which --help does not need
    from espnet_codec_lm.codec.config import CodecTrainConfig
    from espnet_codec_lm.codec.trainer import train

    return CodecTrainConfig, train


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    return run_trainer("codec_train", get_parser().parse_args(argv), argv, _trainer)


if __name__ == "__main__":
    sys.exit(main())
