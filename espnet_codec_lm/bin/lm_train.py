"""Train the speech LM: continual pre-training (CPT) or supervised fine-tuning (SFT).

One process (CPU, or one GPU), or many under torchrun (FSDP2; gloo on CPU, nccl on GPU). A rerun
with the same ``--exp_dir`` resumes from the latest checkpoint and skips a finished run; a
resume with a changed config (beyond ``stop``, ``log``, ``checkpoint``, ``eval``, ``system``) is
refused unless ``--allow_config_change``.

Usage:
    # one process, the mini recipe's debug model
    python -m espnet_codec_lm.bin.lm_train --config conf/lm/debug.yaml --exp_dir exp/lm_debug

    # 8 GPUs on one node, paper-scale speech+text CPT, system name for the report
    torchrun --nproc_per_node 8 -m espnet_codec_lm.bin.lm_train \\
        --config conf/lm/cpt_speech_text_qwen1.5_0.5b.yaml --exp_dir exp/lm_cpt_speech_text \\
        --system "Speech & Text CPT" model.base_llm=/models/Qwen1.5-0.5B

    # SFT for ASR from the CPT model, with key=value overrides
    python -m espnet_codec_lm.bin.lm_train --config conf/lm/sft_asr_qwen1.5_0.5b.yaml \\
        --exp_dir exp/lm_sft_asr model.init=exp/lm_cpt_speech_text/model stop.max_steps=2000

Outputs in ``--exp_dir``: config.yaml, system.yaml, checkpoints/, model/ (final SpeechLM
checkpoint), train_log.jsonl, valid_log.jsonl, tensorboard/, ppl.yaml, loss_curve.png.
"""

from __future__ import annotations

import argparse
import sys

from espnet_codec_lm.config import load_config
from espnet_codec_lm.train.config import LMTrainConfig
from espnet_codec_lm.train.errors import TrainingInterrupted
from espnet_codec_lm.utils.logging import setup_logging


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--config", required=True, help="LM training YAML (LMTrainConfig)")
    p.add_argument("--exp_dir", required=True, help="experiment directory (created)")
    p.add_argument(
        "--system",
        default=None,
        help="system name for system.yaml: 'No Initialization', 'Text LLM Initialization', "
        "'Speech CPT' or 'Speech & Text CPT' (overrides the config's 'system')",
    )
    p.add_argument(
        "--no_resume", action="store_true", help="ignore existing checkpoints (start over)"
    )
    p.add_argument(
        "--allow_config_change",
        action="store_true",
        help="resume although the config differs from the experiment's config.yaml in more than "
        "the stopping rule / logging / checkpoint / validation cadence (each change is logged)",
    )
    p.add_argument("overrides", nargs="*", help="key=value config overrides (dotted keys)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = get_parser().parse_args(argv)

    log = setup_logging("lm_train")

    env = None
    shutdown = None
    try:
        overrides = list(args.overrides)
        if args.system:  # an empty --system keeps the config's
            overrides.append(f"system={args.system}")
        cfg = load_config(LMTrainConfig, args.config, overrides)  # fails fast, before torch
        # lazy: torch, after the config has been checked (and not for --help)
        from espnet_codec_lm.train.build import build_trainer, link_final_model
        from espnet_codec_lm.train.distributed import init_distributed, shutdown

        env = init_distributed(cfg.dist)
        trainer = build_trainer(
            cfg,
            args.exp_dir,
            env,
            resume=not args.no_resume,
            allow_config_change=args.allow_config_change,
        )
        trainer.fit()
        latest = trainer.ckpt.latest()
        if env.is_main and latest is not None:
            link_final_model(args.exp_dir, latest)
        if env.is_main:
            log.info("done: %s (model in %s/model)", args.exp_dir, args.exp_dir)
    except TrainingInterrupted as e:  # SIGTERM / Ctrl-C: the checkpoint of the last step is saved
        print(f"lm_train: {e}", file=sys.stderr)
        return 128 + (e.signum or 15)
    except (ValueError, OSError) as e:  # config, data, checkpoint, model, file errors: one line
        print(f"lm_train: error: {e}", file=sys.stderr)
        return 1
    finally:
        if env is not None and shutdown is not None:
            shutdown(env)
    return 0


if __name__ == "__main__":
    sys.exit(main())
