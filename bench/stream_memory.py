"""Peak memory of the CPT data pipeline against corpus size: streaming (``data.kind: shards``)
vs in memory (``data.kind: tasks``).

Writes a synthetic corpus (``testing/synthetic.py``) at 1x and ``--factor`` x speech utterances
(text and MT pools fixed), shards each (``tasks/shards.py``), then for each source and size runs
a fresh process that builds the source and draws ``--batches`` batches, and reports that
process's peak RSS (``VmHWM``) and its growth from 1x to ``--factor`` x. Sources:

- ``tasks``: the in-memory pipeline as the mini recipe runs it (codes in memory, the epoch's
  built examples kept);
- ``tasks-lazy``: the in-memory pipeline as the paper configs ran it before streaming (codes in
  their arks, examples rebuilt; the corpus index and its tokenised texts still in memory);
- ``shards``: the streaming source (a window of ``--shuffle_buffer`` utterances per process).

Goal: the streaming source's peak grows by <= 10 % from 1x to 10x.

Usage:
    tools/venv/bin/python bench/stream_memory.py                     # 2,000 and 20,000 utterances
    tools/venv/bin/python bench/stream_memory.py --utts 500 --batches 20   # quicker
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SOURCES = ("tasks", "tasks-lazy", "shards")


def _rss_mb(field: str) -> float:
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def child(args) -> None:
    """One measurement: build ``args.source`` over ``args.corpus``, draw the batches, print
    ``{"base_mb", "peak_mb", "seconds"}`` as JSON."""
    import torch  # noqa: F401  (imported before the baseline: every source collates to tensors)

    from espnet_codec_lm.lm.tokenizer import load_text_tokenizer
    from espnet_codec_lm.lm.vocab import VocabLayout
    from espnet_codec_lm.tasks.corpus import SpeechSetConfig
    from espnet_codec_lm.tasks.dataset import DataConfig, TaskDataset
    from espnet_codec_lm.tasks.streaming import StreamDataConfig, StreamingTaskSource

    root = Path(args.corpus)
    layout = VocabLayout.load(root / "vocab_layout.json")
    tokenizer = load_text_tokenizer(root / "tokenizer")
    common = dict(
        speech_sets=[SpeechSetConfig(str(root / "train"), str(root / "codes/train/codes.scp"))],
        text_pools=[str(root / "text_pool/general.en"), str(root / "text_pool/general.zh")],
        mt_pools=[str(root / "text_pool/mt.en-zh.tsv")],
        max_len=1024,
        batch_size=4,
    )
    base = _rss_mb("VmRSS")
    t0 = time.perf_counter()
    if args.source == "shards":
        cfg = StreamDataConfig(
            **{**common, "speech_sets": []}, shards=[str(root / "shards")],
            shuffle_buffer=args.shuffle_buffer,
        )  # fmt: skip
        src = StreamingTaskSource(cfg, layout, tokenizer)
    else:
        lazy = args.source == "tasks-lazy"
        cfg = DataConfig(**common, codes_in_memory=not lazy, cache_examples=not lazy)
        src = TaskDataset(cfg, layout, tokenizer)
    for _ in range(args.batches):
        src.next_batch()
    out = {"base_mb": base, "peak_mb": _rss_mb("VmHWM"), "seconds": time.perf_counter() - t0}
    print(json.dumps(out))


def measure(source: str, corpus: Path, args) -> dict:
    cmd = [sys.executable, __file__, "--child", source, "--corpus", str(corpus),
           "--batches", str(args.batches), "--shuffle_buffer", str(args.shuffle_buffer)]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO), "ESPNET_CODEC_LM_NO_PROGRESS": "1"}
    res = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if res.returncode:
        sys.exit(f"{source} on {corpus}: failed\n{res.stderr[-3000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--utts", type=int, default=2000, help="speech utterances at 1x")
    p.add_argument("--factor", type=int, default=10, help="size of the large corpus (x 1x)")
    p.add_argument("--batches", type=int, default=100, help="batches drawn (4 x 1,024 positions)")
    p.add_argument("--shuffle_buffer", type=int, default=1000, help="streaming window")
    p.add_argument("--shard_utts", type=int, default=200, help="utterances per shard")
    p.add_argument("--child", choices=SOURCES, default=None, help=argparse.SUPPRESS)
    p.add_argument("--source", default=None, help=argparse.SUPPRESS)
    p.add_argument("--corpus", default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        args.source = args.child
        return child(args)
    sys.path.insert(0, str(REPO))
    os.environ.setdefault("ESPNET_CODEC_LM_NO_PROGRESS", "1")
    from espnet_codec_lm.tasks.shards import write_shards
    from espnet_codec_lm.testing.synthetic import make_synthetic_corpus

    speakers = 10
    with tempfile.TemporaryDirectory(prefix="stream_memory_") as tmp:
        corpora = {}
        for scale in (1, args.factor):
            t0 = time.perf_counter()
            root = Path(tmp) / f"x{scale}"
            per_speaker = max(1, args.utts * scale // (2 * speakers))
            make_synthetic_corpus(root, speakers_per_lang=speakers, utts_per_speaker=per_speaker)
            m = write_shards(
                root / "train", root / "codes/train/codes.scp", root / "shards",
                shard_utts=args.shard_utts,
            )  # fmt: skip
            corpora[scale] = (root, m["utterances"])
            print(f"corpus {scale:>2}x: {m['utterances']:,} utterances, {len(m['shards'])} shards "
                  f"({time.perf_counter() - t0:.0f} s)", flush=True)  # fmt: skip
        rows = []
        for source in SOURCES:
            got = {scale: measure(source, root, args) for scale, (root, _) in corpora.items()}
            rows.append((source, got))
            small, big = got[1], got[args.factor]
            print(f"  {source}: {small['peak_mb']:.0f} -> {big['peak_mb']:.0f} MB", flush=True)
    n1, nk = corpora[1][1], corpora[args.factor][1]
    print(f"\n{args.batches} batches of 4 x 1,024 positions; streaming window "
          f"{args.shuffle_buffer} utterances, {args.shard_utts} a shard\n")  # fmt: skip
    print(f"| source | peak RSS, {n1:,} utts | peak RSS, {nk:,} utts | growth | "
          "data memory (peak - after imports) | time 1x / 10x |")  # fmt: skip
    print("| --- | --- | --- | --- | --- | --- |")
    for source, got in rows:
        a, b = got[1], got[args.factor]
        growth = 100 * (b["peak_mb"] / a["peak_mb"] - 1)
        data = f"{a['peak_mb'] - a['base_mb']:.0f} -> {b['peak_mb'] - b['base_mb']:.0f} MB"
        print(f"| `{source}` | {a['peak_mb']:.0f} MB | {b['peak_mb']:.0f} MB | {growth:+.1f} % | "
              f"{data} | {a['seconds']:.0f} s / {b['seconds']:.0f} s |")  # fmt: skip


if __name__ == "__main__":
    main()
