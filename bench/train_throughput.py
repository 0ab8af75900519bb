"""Throughput of a CPT training step: positions per second and the share of step time spent
loading data.

Runs the real trainer (``Trainer.train_step``: batch fetch, forward, backward, clip, AdamW) on
the model and batch sizes of an LM training config (default: the mini recipe's
``conf/lm/cpt_debug.yaml``) with the real task pipeline (``data.kind: tasks``, the speech+text
CPT mixture, packing; ``data.kind: shards`` when the config streams, as the paper configs do: the
synthetic set is then written as shards first) over a synthetic corpus written to a temporary
directory, so it needs no recipe outputs. The first step also plans the epoch (building and packing every example); that
one-off cost is reported separately and excluded from the timed steps.

Usage:
    OMP_NUM_THREADS=2 tools/venv/bin/python bench/train_throughput.py
    tools/venv/bin/python bench/train_throughput.py --steps 10 batch.micro_batch=2
    tools/venv/bin/python bench/train_throughput.py --config egs2/TEMPLATE/codec_lm1/conf/lm/cpt_speech_text_qwen1.5_0.5b.yaml \\
        model.init=none model.base_llm=/models/Qwen1.5-0.5B batch.global_sequences=8   # on a GPU
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CONFIG = REPO / "egs2/TEMPLATE/codec_lm1/conf/lm/cpt_debug.yaml"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--config", default=str(DEFAULT_CONFIG), help="LMTrainConfig YAML")
    p.add_argument("--steps", type=int, default=5, help="timed optimiser steps")
    p.add_argument("--warmup", type=int, default=1, help="untimed steps (epoch planning)")
    p.add_argument("--utts", type=int, default=24, help="synthetic utterances per language")
    p.add_argument("overrides", nargs="*", help="key=value overrides of the config")
    args = p.parse_args()
    sys.path.insert(0, str(REPO))
    os.environ.setdefault("ESPNET_CODEC_LM_NO_PROGRESS", "1")

    import torch

    from espnet_codec_lm.config import load_config
    from espnet_codec_lm.testing.synthetic import make_synthetic_corpus
    from espnet_codec_lm.train.build import build_trainer
    from espnet_codec_lm.train.config import LMTrainConfig
    from espnet_codec_lm.train.distributed import init_distributed, shutdown

    base = load_config(LMTrainConfig, args.config, args.overrides)
    with tempfile.TemporaryDirectory(prefix="train_bench_") as tmp:
        tmp = Path(tmp)
        t0 = time.perf_counter()
        corpus = make_synthetic_corpus(
            tmp / "corpus",
            speakers_per_lang=4,
            utts_per_speaker=max(1, args.utts // 4),
            n_text=100,
            n_mt=100,
            num_streams=base.model.get("num_streams", 3),
            codebook_size=base.model.get("codebook_size", 1024),
            vocab_size=2000,
        )
        t_corpus = time.perf_counter() - t0
        root = corpus.root
        speech = {
            "data_dir": str(root / "train"),
            "codes": str(root / "codes/train/codes.scp"),
            "codes_tgt": str(root / "codes/train/codes_tgt.scp"),
        }
        kind = "shards" if base.data.get("kind") == "shards" else "tasks"
        if kind == "shards":  # where data.kind: shards looks for a speech set's shards
            from espnet_codec_lm.tasks.shards import default_shard_dir, write_shards

            codes = root / "codes/train/codes.scp"
            write_shards(root / "train", codes, default_shard_dir(codes), num_shards=8)
        overrides = [
            *args.overrides,
            f"data.kind={kind}",
            "data.cpt_mode=speech_text",
            f"data.speech_sets=[{speech}]",
            f"data.text_pools=[{root / 'text_pool/general.en'}, {root / 'text_pool/general.zh'}]",
            f"data.mt_pools=[{root / 'text_pool/mt.en-zh.tsv'}]",
            "data.valid_speech_sets=[]",
            "stage=cpt",
            "eval.every_steps=0",
            "eval.text_ppl_file=null",
            "checkpoint.every_steps=0",
            "log.tensorboard=false",
            f"stop.max_steps={args.warmup + args.steps}",
        ]
        if base.model.get("init", "none") == "none" and not base.model.get("base_llm"):
            overrides.append(f"model.tokenizer={root / 'tokenizer'}")
        cfg = load_config(LMTrainConfig, args.config, overrides)
        env = init_distributed(cfg.dist)
        try:
            trainer = build_trainer(cfg, tmp / "exp", env, resume=False)
            n_params = sum(p.numel() for p in trainer.model.parameters())
            t0 = time.perf_counter()
            for _ in range(args.warmup):
                trainer.train_step()
            t_warm = time.perf_counter() - t0
            c0 = time.process_time()
            rows = [trainer.train_step() for _ in range(args.steps)]
            cpu_per_step = (time.process_time() - c0) / args.steps
        finally:
            shutdown(env)

    pos_s = [r["positions_per_s"] for r in rows]
    share = [r["data_share"] for r in rows]
    step_t = [r["step_time"] for r in rows]
    positions = cfg.batch.global_sequences * cfg.batch.max_len
    print(f"config            {args.config}")
    print(
        f"model             {n_params / 1e6:.2f}M parameters, "
        f"device {env.device}, {'FSDP2' if env.fsdp else 'no sharding'}, "
        f"{'bf16' if env.bf16 else 'fp32'}, {torch.get_num_threads()} threads"
    )
    print(
        f"step              {cfg.batch.global_sequences} rows x {cfg.batch.max_len} = "
        f"{positions} positions, accumulation {trainer.accum}"
    )
    print(
        f"one-off           corpus {t_corpus:.1f} s, first step(s) with epoch planning {t_warm:.1f} s"
    )
    print(
        f"step time         median {statistics.median(step_t):.3f} s over {len(rows)} steps "
        f"(process CPU {cpu_per_step:.3f} s/step; load average {os.getloadavg()[0]:.1f} on "
        f"{os.cpu_count()} cores)"
    )
    print(f"positions/s       {statistics.median(pos_s):,.0f} (median; best {max(pos_s):,.0f})")
    # wall-clock speed depends on what else runs on the machine; CPU time much less so
    print(f"positions/CPU-s   {positions / cpu_per_step:,.0f} (positions per process CPU second)")
    print(
        f"data loading      {100 * statistics.median(share):.1f}% of step time "
        f"(median; batch building, packing, collation, host-to-device)"
    )


if __name__ == "__main__":
    main()
