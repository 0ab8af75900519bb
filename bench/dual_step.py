"""One training step of DualSpeechLM vs the CPT systems' SpeechLM of the same LLM size.

Both train on packed rows of the same shape (``--batch`` rows of ``--length`` positions) built by
the toolkit's task pipeline from a synthetic corpus (tools: ``testing/synthetic.py``): the
SpeechLM reads and writes 3 codec streams (50 Hz); DualSpeechLM reads one USToken stream
(half the frames: 25 Hz, so a row holds more utterances) and its acoustic decoder writes the 3
codec streams of every generation example in the batch. Tasks: the SFT mixture ASR + TTS + S2TT +
S2ST. A step is zero_grad + forward + loss + backward + AdamW step; the models are timed
alternately after warm-up, and the ratio uses each one's fastest step (the least disturbed on a
shared CPU; medians printed too). Goal (issue 18): DualSpeechLM <= 1.3x.

Usage:
    OMP_NUM_THREADS=2 tools/venv/bin/python bench/dual_step.py
    tools/venv/bin/python bench/dual_step.py --decoder-layers 2 6 --steps 8
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from espnet_codec_lm.dual.config import AcousticDecoderArch, DualConfig
from espnet_codec_lm.dual.data import DualTaskDataset, load_acoustic
from espnet_codec_lm.dual.model import DualSpeechLM
from espnet_codec_lm.lm.model import SpeechLM
from espnet_codec_lm.tasks.dataset import TaskDataset
from espnet_codec_lm.tasks.sequence import BuildConfig
from espnet_codec_lm.testing.synthetic import make_synthetic_corpus
from espnet_codec_lm.testing.tiny_models import tiny_qwen2_config
from espnet_codec_lm.train.losses import count_targets, forward_batch


def _halve_frames(corpus_root: Path) -> None:
    """USTokens run at 25 Hz: keep every other frame of the synthetic codes (in place)."""
    import kaldiio

    d = corpus_root / "codes/train"
    for name in ("codes", "codes_tgt"):
        arrays = dict(kaldiio.load_scp(str(d / f"{name}.scp")))
        with kaldiio.WriteHelper(
            f"ark,scp:{d / name}.ark,{d / name}.scp", write_function="numpy"
        ) as w:
            for key in sorted(arrays):
                w(key, arrays[key][::2])


def _step_fn(model, batch):
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    n = float(count_targets(batch))

    def step() -> float:
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        out = forward_batch(model, batch)
        (out.loss_sum.sum() / n).backward()
        opt.step()
        return time.perf_counter() - t0

    return step


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--ffn", type=int, default=688)
    p.add_argument("--decoder-layers", type=int, nargs="+", default=[2, 6])
    p.add_argument("--decoder-heads", type=int, default=8)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--length", type=int, default=512)
    p.add_argument("--steps", type=int, default=6)
    p.add_argument("--warmup", type=int, default=1)
    args = p.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="dual_step."))
    kw = dict(speakers_per_lang=4, utts_per_speaker=12, n_text=10, n_mt=10)
    codec = make_synthetic_corpus(tmp / "codec", num_streams=3, **kw)
    ust = make_synthetic_corpus(tmp / "ust", num_streams=1, **kw)
    _halve_frames(ust.root)
    tasks = ["asr", "tts", "s2tt", "s2st"]
    common = dict(stage="sft", tasks=tasks, max_len=args.length, batch_size=args.batch)
    cpt_data = TaskDataset(codec.data_config(**common), codec.layout, codec.tokenizer)
    acoustic = {
        "codes": load_acoustic([str(codec.root / "codes/train/codes.scp")], 3, 1024),
        "codes_tgt": load_acoustic([str(codec.root / "codes/train/codes_tgt.scp")], 3, 1024),
    }
    dual_data = DualTaskDataset(
        ust.data_config(**common, build=BuildConfig(frame_rate=25.0)),
        ust.layout, ust.tokenizer, acoustic, 150, ["question", "answer", "full"],
    )  # fmt: skip
    arch = dict(
        hidden_size=args.hidden, num_hidden_layers=args.layers, num_attention_heads=args.heads,
        num_key_value_heads=args.heads, intermediate_size=args.ffn,
    )  # fmt: skip
    torch.manual_seed(0)
    models = {"SpeechLM (CPT systems)": (SpeechLM(tiny_qwen2_config(codec.layout.size, **arch),
                                                  codec.layout), cpt_data.get_batch(0, 0))}  # fmt: skip
    dual_batch = dual_data.get_batch(0, 0)
    for n in args.decoder_layers:
        dec = AcousticDecoderArch(
            hidden_size=args.hidden, num_hidden_layers=n, num_attention_heads=args.decoder_heads,
            num_key_value_heads=args.decoder_heads, intermediate_size=args.ffn,
        )  # fmt: skip
        llm = SpeechLM(tiny_qwen2_config(ust.layout.size, **arch), ust.layout)
        models[f"DualSpeechLM, {n}-layer decoder"] = (
            DualSpeechLM(llm, DualConfig(acoustic_streams=3, decoder=dec)),
            dual_batch,
        )
    steps = {name: _step_fn(m.train(), b) for name, (m, b) in models.items()}
    times: dict[str, list[float]] = {name: [] for name in models}
    for i in range(args.warmup + args.steps):
        for name, step in steps.items():
            t = step()
            if i >= args.warmup:
                times[name].append(t)
    gen = int(len(dual_batch["ac_codes"]))
    frames = int(dual_batch["ac_lens"].sum())
    print(f"rows: {args.batch} x {args.length} positions; LLM {args.layers} layers x {args.hidden}")
    print(f"DualSpeechLM batch: {gen} generation examples, {frames} acoustic frames")
    base = min(times["SpeechLM (CPT systems)"])
    print(f"{'model':<34} {'fastest s':>9} {'median s':>9} {'ratio':>6}")
    for name, ts in times.items():
        print(f"{name:<34} {min(ts):9.3f} {statistics.median(ts):9.3f} {min(ts) / base:6.2f}")


if __name__ == "__main__":
    main()
