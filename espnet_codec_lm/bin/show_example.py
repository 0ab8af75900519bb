"""Print one built task sequence in readable form (text decoded, speech as frames and codes).

Each line is one segment: its positions, role (condition / prompt / target), slot, the decoded
text or the speech's frame count and first codes per codebook, and how many of its positions
are training targets. ``--prefix`` shows instead what the decoder feeds at inference
(``<Condition><Prompt><target start>``); ``--stats`` prints the epoch plan of the data config
(examples per task, split / dropped counts, packing efficiency).

Usage:
    # a self-contained demo on a tiny synthetic corpus (random codes, real sentences)
    python -m espnet_codec_lm.bin.show_example --demo --task tts
    python -m espnet_codec_lm.bin.show_example --demo --task asr --stage sft --ids
    python -m espnet_codec_lm.bin.show_example --demo --task s2st --stage sft --prefix
    python -m espnet_codec_lm.bin.show_example --demo --stats max_len=2048
    # on real data: a DataConfig YAML, tokenizer and layout
    python -m espnet_codec_lm.bin.show_example --config conf/data_cpt.yaml \
        --tokenizer exp/tokenizer --vocab_layout exp/lm/vocab_layout.json \
        --task tts --utt 1089-134686-0000 stage=sft tasks=[tts]
    # or an LM training config (its data: section, with the trainer's stage, seed, max_len and
    # micro-batch), e.g. the effective config a run wrote
    python -m espnet_codec_lm.bin.show_example --config exp/lm/sft_asr/config.yaml \
        --tokenizer exp/tokenizer --vocab_layout exp/lm/sft_asr/vocab_layout.json --task asr
"""

from __future__ import annotations

import argparse
import sys

from espnet_codec_lm.config import (
    ConfigError,
    apply_overrides,
    config_from_dict,
    dump_config,
    load_config,
    read_yaml,
)
from espnet_codec_lm.lm.tokenizer import load_text_tokenizer
from espnet_codec_lm.lm.vocab import VocabLayout
from espnet_codec_lm.tasks.dataset import DataConfig, TaskDataset
from espnet_codec_lm.tasks.display import render
from espnet_codec_lm.testing.synthetic import make_synthetic_corpus
from espnet_codec_lm.utils.logging import setup_logging


def get_parser() -> argparse.ArgumentParser:
    """Command-line flags of ``show_example``."""
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--config", help="data config YAML (DataConfig), or an LM training config (its data:)"
    )
    p.add_argument("--tokenizer", help="text tokenizer directory or .model file")
    p.add_argument("--vocab_layout", help="vocab_layout.json (default: text rows = tokenizer size)")
    p.add_argument("--demo", action="store_true", help="use a tiny synthetic corpus instead")
    p.add_argument("--task", default="tts", help="task name (continuation, asr, tts, ...)")
    p.add_argument("--stage", choices=["cpt", "sft"], help="override the config's stage")
    p.add_argument("--utt", help="utterance id (default: one drawn with --seed)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--prefix", action="store_true", help="show the inference-time prefix")
    p.add_argument("--ids", action="store_true", help="also print text token ids")
    p.add_argument("--frames", type=int, default=6, help="codes shown per speech segment")
    p.add_argument("--stats", action="store_true", help="print epoch-0 plan statistics")
    p.add_argument("overrides", nargs="*", help="key=value overrides of the data config")
    return p


def _setup(args, workdir: str):
    from pathlib import Path

    overrides = list(args.overrides) + ([f"stage={args.stage}"] if args.stage else [])
    if args.demo:
        corpus = make_synthetic_corpus(Path(workdir))
        dump_config(corpus.data_config(), corpus.root / "data.yaml")
        cfg = load_config(DataConfig, corpus.root / "data.yaml", overrides)
        return cfg, corpus.layout, corpus.tokenizer
    if not args.config or not args.tokenizer:
        raise ValueError("give --config and --tokenizer (or --demo)")

    cfg = _data_config(args.config, overrides)
    tokenizer = load_text_tokenizer(args.tokenizer)
    if args.vocab_layout:
        layout = VocabLayout.load(args.vocab_layout)
    else:
        size = tokenizer.vocab_size
        layout = VocabLayout(size, size, num_streams=3, codebook_size=1024)
    return cfg, layout, tokenizer


def _data_config(path: str, overrides: list[str]):
    """The DataConfig of ``path``: a data config, or an LM training config's ``data:`` section
    with the values the trainer owns (top-level ``stage`` / ``seed``, ``batch.max_len`` /
    ``batch.micro_batch``) filled in as the trainer does; ``overrides`` apply to the data."""
    raw = read_yaml(path)
    if not isinstance(raw.get("data"), dict):
        return load_config(DataConfig, path, overrides)
    data = dict(raw["data"])
    kind = data.get("kind", "tasks")
    if kind == "shards" and data.get("speech_sets"):
        # streamed CPT: the same builder over the speech sets its shards were written from
        for key in ("kind", "shards", "shuffle_buffer"):
            data.pop(key, None)
    elif kind != "tasks":
        raise ConfigError(
            f"{path}: data.kind is {kind!r}; only 'tasks' data (or 'shards' with "
            "data.speech_sets) can be shown"
        )
    batch = raw.get("batch") or {}
    owned = {"stage": raw.get("stage"), "seed": raw.get("seed"),
             "max_len": batch.get("max_len"), "batch_size": batch.get("micro_batch")}  # fmt: skip
    data.update({k: v for k, v in owned.items() if v is not None})
    return config_from_dict(DataConfig, apply_overrides(data, overrides, path), f"{path} (data:)")


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    args = get_parser().parse_args(argv)

    log = setup_logging("show_example", "WARNING")
    import tempfile

    with tempfile.TemporaryDirectory(prefix="show_example_") as workdir:
        return _run(args, workdir, log)


def _run(args, workdir: str, log) -> int:
    try:
        from dataclasses import replace

        import numpy as np

        cfg, layout, tokenizer = _setup(args, workdir)
        if cfg.stage == "sft" and not cfg.tasks:
            cfg.tasks = [args.task]
        ds = TaskDataset(cfg, layout, tokenizer)
        fr = cfg.build.frame_rate
        if args.stats:
            import yaml

            print(yaml.safe_dump(ds.plan(0).stats, sort_keys=False), end="")
            return 0
        if args.prefix:
            corpus, idx = ds.pools.get(args.task) or ds._pool(args.task)
            if not len(idx):
                raise ValueError(f"no eligible data for task {args.task!r}")
            rng = np.random.default_rng(args.seed)
            sample = corpus.samples[int(idx[int(rng.integers(len(idx)))])]
            if args.utt:
                sample = next((s for s in corpus.samples if s.uttid == args.utt), None)
                if sample is None:
                    raise ValueError(f"utterance {args.utt} not found")
            if args.task in ("tts", "t2st") and sample.speaker_prompt is None:
                n = int(cfg.build.sft_speaker_prompt_s * fr)
                # the utterance's first 3 s stand in for the user's prompt recording
                sample = replace(sample, speaker_prompt=sample.codes[:n])
            item = ds.builder.build_prefix(args.task, sample)
            print(f"utterance {sample.uttid} ({ds.builder.stage}, inference prefix)")
        else:
            item = ds.example(args.task, args.utt, args.seed)
            print(f"utterance {item.uttid} ({ds.builder.stage})")
        print(render(item, layout, tokenizer, fr, args.frames, args.ids))
    except (ValueError, FileNotFoundError) as e:
        log.error("%s", e)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
