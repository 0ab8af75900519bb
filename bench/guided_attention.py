"""The cost of the guided attention per training step: SDPA probe vs the eager attention.

Three copies of the same SpeechLM (the mini recipe's architecture by default) take the same
packed TTS batch: ``off`` (SDPA, cross-entropy only), ``eager`` (the eager attention in every
layer returns every head's probabilities; the guided heads are picked from them: the trainer's
way before lm/attention_probe.py) and ``probe`` (SDPA everywhere, the guided heads of the guided
layer compute their probabilities: SpeechLM.probe_attention, the trainer's way now). A step is
zero_grad + forward + cross-entropy + guided-attention penalty + backward + AdamW step. The
three are timed alternately after warm-up; the ratios use each one's fastest step (the least
disturbed on a shared CPU); the medians are printed too. The two guided penalties must agree.

Usage:
    OMP_NUM_THREADS=2 tools/venv/bin/python bench/guided_attention.py
    tools/venv/bin/python bench/guided_attention.py --batch 8 --length 512 --steps 8
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--ffn", type=int, default=688)
    p.add_argument("--text-rows", type=int, default=4000, help="text embedding rows")
    p.add_argument("--streams", type=int, default=3)
    p.add_argument("--codebook-size", type=int, default=1024)
    p.add_argument("--batch", type=int, default=8, help="packed rows per step")
    p.add_argument("--length", type=int, default=512)
    p.add_argument("--examples", type=int, default=2, help="TTS examples packed per row")
    p.add_argument("--guided-layers", type=int, nargs="+", default=[2])
    p.add_argument("--guided-heads", type=int, nargs="+", default=[0, 1])
    p.add_argument("--steps", type=int, default=6, help="timed steps per variant")
    p.add_argument("--warmup", type=int, default=1)
    args = p.parse_args()

    import torch

    from espnet_codec_lm.lm.labels import shift_labels
    from espnet_codec_lm.lm.model import SpeechLM
    from espnet_codec_lm.lm.vocab import STREAM_PAD, VocabLayout
    from espnet_codec_lm.testing.tiny_models import tiny_qwen2_config
    from espnet_codec_lm.train.losses import guided_attention_sum

    layout = VocabLayout(
        text_vocab_size=args.text_rows,
        text_rows=args.text_rows,
        num_streams=args.streams,
        codebook_size=args.codebook_size,
    )
    config = tiny_qwen2_config(  # the mini recipe's text LLM architecture by default
        layout.size,
        hidden_size=args.hidden,
        intermediate_size=args.ffn,
        num_hidden_layers=args.layers,
        num_attention_heads=args.heads,
        num_key_value_heads=args.heads,
        max_position_embeddings=max(4096, args.length),
    )

    def build(attn: str) -> SpeechLM:
        torch.manual_seed(0)
        cfg = copy.deepcopy(config)  # each model its own config (the attention lives there)
        cfg._attn_implementation = attn
        return SpeechLM(cfg, layout).train()

    models = {"off": build("sdpa"), "eager": build("eager"), "probe": build("sdpa")}
    models["probe"].probe_attention(args.guided_layers, args.guided_heads)

    # packed rows of TTS-like examples: a fifth text, the rest speech frames
    B, T, E = args.batch, args.length, args.examples
    per = T // E
    n_text = per // 5
    tokens = torch.full((B, T, layout.num_streams), STREAM_PAD)
    tokens[..., 0] = torch.randint(0, layout.text_vocab_size, (B, T))
    position_ids = torch.arange(per).repeat(B, E)
    speech = torch.zeros(B, T, dtype=torch.bool)
    spans = []
    for b in range(B):
        for e in range(E):
            lo = e * per
            speech[b, lo + n_text : lo + per] = True
            spans.append([b, lo + 1, lo + n_text, lo + n_text, lo + per - 1])
    codes = torch.randint(0, layout.codebook_size, (int(speech.sum()), layout.num_streams))
    tokens[speech] = torch.as_tensor(layout.codes_to_ids(codes.numpy()))
    labels = shift_labels(tokens, speech, position_ids)
    spans = torch.tensor(spans)
    heads = torch.tensor(args.guided_heads)

    opts = {k: torch.optim.AdamW(m.parameters(), lr=1e-4) for k, m in models.items()}
    penalties: dict[str, float] = {}

    def step(name: str) -> None:
        model, opt = models[name], opts[name]
        opt.zero_grad(set_to_none=True)
        guided = name != "off"
        out = model(tokens, labels=labels, position_ids=position_ids, return_attentions=guided)
        loss = out.loss_sum.sum()
        if guided:
            att = out.attentions
            if name == "eager":  # every layer and head came back: pick the guided ones
                att = [att[i].index_select(1, heads) for i in args.guided_layers]
            penalty, _ = guided_attention_sum(att, spans, 0.2)
            penalties.setdefault(name, penalty.item())
            loss = loss + 3.0 * penalty
        loss.backward()
        opt.step()

    times: dict[str, list[float]] = {k: [] for k in models}
    for i in range(args.warmup + args.steps):
        for name in models:
            t0 = time.perf_counter()
            step(name)
            if i >= args.warmup:
                times[name].append(time.perf_counter() - t0)

    best = {k: min(v) for k, v in times.items()}
    med = {k: statistics.median(v) for k, v in times.items()}
    print(
        f"guided attention step  threads={torch.get_num_threads()} hidden={args.hidden} "
        f"layers={args.layers} heads={args.heads} positions={B}x{T} "
        f"guided layers {args.guided_layers} heads {args.guided_heads}"
    )
    labels_ = {
        "off": "SDPA, no guided attention",
        "eager": "eager attention (before)",
        "probe": "SDPA + probed heads (now)",
    }
    for name in models:
        print(
            f"  {labels_[name]:28s} best {best[name] * 1e3:8.1f} ms/step  "
            f"median {med[name] * 1e3:8.1f} ms/step  x{best[name] / best['off']:.3f} of off"
        )
    print(
        f"  probe / eager = {best['probe'] / best['eager']:.3f}x best, "
        f"{med['probe'] / med['eager']:.3f}x median; first-step penalty eager "
        f"{penalties['eager']:.6f}, probe {penalties['probe']:.6f}"
    )


if __name__ == "__main__":
    main()
