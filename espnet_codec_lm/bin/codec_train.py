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
"""

from __future__ import annotations

import argparse
import sys


def get_parser() -> argparse.ArgumentParser:
    """Command-line flags of ``codec_train``."""
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--config", required=True, help="codec training YAML (CodecTrainConfig)")
    p.add_argument("--exp_dir", required=True, help="experiment directory (checkpoints, logs)")
    p.add_argument("--no_resume", action="store_true", help="ignore an existing checkpoint")
    p.add_argument(
        "--allow_config_change",
        action="store_true",
        help="resume although the config differs from the experiment's config.yaml in more than "
        "max_steps / log_every / valid_every / ckpt_every_s / keep_snapshots / num_threads / "
        "data.valid (each change is logged)",
    )
    p.add_argument("overrides", nargs="*", help="key=value config overrides, e.g. max_steps=100")
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    args = get_parser().parse_args(argv)
    from espnet_codec_lm.utils.logging import setup_logging

    log = setup_logging("codec_train")
    try:
        from espnet_codec_lm.codec.config import CodecTrainConfig
        from espnet_codec_lm.codec.trainer import train
        from espnet_codec_lm.config import load_config
        from espnet_codec_lm.utils.provenance import command_line

        cfg = load_config(CodecTrainConfig, args.config, args.overrides)
        command = command_line("python -m espnet_codec_lm.bin.codec_train", argv)
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
