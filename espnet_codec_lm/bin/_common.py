"""What several entry points share: the parser, the flags of a trainer (``codec_train``,
``ustokenizer_train``) and of a tokenize stage (``codec_tokenize``, ``ustokenizer_tokenize``),
and the run of a stage whose errors are one logged line and exit status 1.

Not an entry point itself (the leading underscore keeps it out of the ``--help`` checks); it
imports only light modules, so that ``--help`` stays fast: the heavy ones (torch) are imported by
the ``load`` callables and stage bodies the entry points pass in.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable
from typing import Any

from espnet_codec_lm.config import load_config
from espnet_codec_lm.utils.logging import setup_logging
from espnet_codec_lm.utils.provenance import command_line


def cli_parser(description: str | None) -> argparse.ArgumentParser:
    """A parser that shows ``description`` (the module docstring) as written."""
    return argparse.ArgumentParser(
        description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )


def run_stage(name: str, body: Callable[[logging.Logger], Any]) -> int:
    """Set up logging as ``name`` and run ``body(log)``; return the exit status: 1 after a
    ``ValueError`` or ``FileNotFoundError`` (a bad config, input or model), logged as one line
    without a traceback, else 0."""
    log = setup_logging(name)
    try:
        body(log)
    except (ValueError, FileNotFoundError) as e:
        log.error("%s", e)
        return 1
    return 0


# --- trainers -----------------------------------------------------------------------------------
def train_parser(
    description: str | None, config_help: str, kept_keys: str
) -> argparse.ArgumentParser:
    """The flags of a resumable trainer; ``kept_keys``: the config keys that may change on a
    resume without ``--allow_config_change``."""
    p = cli_parser(description)
    p.add_argument("--config", required=True, help=config_help)
    p.add_argument("--exp_dir", required=True, help="experiment directory (checkpoints, logs)")
    p.add_argument("--no_resume", action="store_true", help="ignore an existing checkpoint")
    p.add_argument(
        "--allow_config_change",
        action="store_true",
        help="resume although the config differs from the experiment's config.yaml in more than "
        f"{kept_keys} (each change is logged)",
    )
    p.add_argument("overrides", nargs="*", help="key=value config overrides, e.g. max_steps=100")
    return p


def run_trainer(
    name: str,
    args: argparse.Namespace,
    argv: list[str] | None,
    load: Callable[[], tuple[type, Callable[..., Any]]],
) -> int:
    """Run the trainer of ``python -m espnet_codec_lm.bin.<name>`` on the parsed ``args``:
    ``load()`` gives its config class and its ``train(cfg, exp_dir, resume=, command=,
    allow_config_change=)``; the config is read with the overrides and the command line is
    recorded (``run_info.yaml``). Returns the exit status (:func:`run_stage`)."""

    def body(log: logging.Logger) -> None:
        config_cls, train = load()
        cfg = load_config(config_cls, args.config, args.overrides)
        command = command_line(f"python -m espnet_codec_lm.bin.{name}", argv)
        train(
            cfg,
            args.exp_dir,
            resume=not args.no_resume,
            command=command,
            allow_config_change=args.allow_config_change,
        )

    return run_stage(name, body)


# --- tokenize stages ----------------------------------------------------------------------------
def add_tokenize_io(p: argparse.ArgumentParser, model_flag: str) -> None:
    """The model directory (``model_flag``), the data and the output directory."""
    p.add_argument(model_flag, required=True, help="dir with config.yaml + model.safetensors")
    p.add_argument("--data", required=True, help="Kaldi data dir (or a wav.scp file)")
    p.add_argument("--out_dir", required=True, help="where <name>.{ark,scp} are written")


def add_tokenize_run(p: argparse.ArgumentParser, name: str, name_help: str, redo_help: str) -> None:
    """Sharding, the output base name (default ``name``), the audio list and ``--redo``."""
    p.add_argument("--nj", type=int, default=1, help="parallel processes")
    p.add_argument("--name", default=name, help=name_help)
    p.add_argument("--scp_name", default="wav.scp", help="audio list inside --data")
    p.add_argument("--redo", action="store_true", help=redo_help)
