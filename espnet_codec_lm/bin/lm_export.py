"""Export a SpeechLM checkpoint as a plain Hugging Face directory (optionally cast to bf16).

The output loads with ``AutoModelForCausalLM.from_pretrained`` (Qwen2 backbone + the extended
LM head over text, codebook-1 and boundary ids) and, for a Hugging Face text tokenizer, with
``AutoTokenizer.from_pretrained``; the parallel heads (``speech_heads.safetensors``), the
vocabulary layout (``vocab_layout.json``) and ``speech_lm.json`` lie beside it, so
``SpeechLM.from_pretrained`` restores the whole model. After writing, the export is read back
with ``AutoModelForCausalLM`` and its logits compared with the source's on a short input.

Usage:
    python -m espnet_codec_lm.bin.lm_export --checkpoint exp/lm_cpt/model --out exp/lm_cpt/hf
    python -m espnet_codec_lm.bin.lm_export --checkpoint exp/lm_cpt/model --out /tmp/hf_bf16 \\
        --dtype bfloat16
    # only the text LLM inside (text rows, no speech heads): a base LLM for init text_llm
    python -m espnet_codec_lm.bin.lm_export --checkpoint exp/text_llm/model --out exp/text_llm/hf \\
        --text_only
"""

from __future__ import annotations

import argparse
import sys

from espnet_codec_lm.lm.tokenizer import has_tokenizer, load_text_tokenizer
from espnet_codec_lm.lm.vocab import STREAM_PAD
from espnet_codec_lm.utils.logging import setup_logging


def get_parser() -> argparse.ArgumentParser:
    """Command-line flags."""
    p = argparse.ArgumentParser(
        prog="python -m espnet_codec_lm.bin.lm_export",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--checkpoint", required=True, help="SpeechLM checkpoint directory")
    p.add_argument("--out", required=True, help="output directory (replaced atomically)")
    p.add_argument("--dtype", default=None, choices=["float32", "bfloat16", "float16"])
    p.add_argument("--no-check", action="store_true", help="skip the AutoModel read-back check")
    p.add_argument(
        "--text_only",
        action="store_true",
        help="write only the text LLM (text rows; no codec/boundary rows, no parallel heads)",
    )
    return p


def export(
    checkpoint: str,
    out: str,
    dtype: str | None = None,
    check: bool = True,
    text_only: bool = False,
) -> float:
    """Write the export; returns the largest logit difference of the read-back check (0 if
    skipped)."""
    import torch

    # lazy: lm.model imports torch, which --help (here and in bin/pack) does not need
    from espnet_codec_lm.lm.model import SpeechLM

    model = SpeechLM.from_pretrained(checkpoint, dtype="float32").eval()
    tokenizer = load_text_tokenizer(checkpoint) if has_tokenizer(checkpoint) else None
    if dtype is not None:
        model.cast_parameters(dtype)
    from transformers import AutoModelForCausalLM

    lay = model.layout
    if text_only:
        model.save_text_llm(out, tokenizer=tokenizer)
        if not check:
            return 0.0
        ids = torch.tensor([[0, 1, 2, lay.text_vocab_size - 1]])
        hf = AutoModelForCausalLM.from_pretrained(out).eval()
        with torch.no_grad():
            tokens = torch.full((*ids.shape, lay.num_streams), STREAM_PAD)
            tokens[..., 0] = ids
            ref = model(tokens).logits[..., : lay.text_rows].float()
            diff = (hf(ids).logits.float() - ref).abs().max().item()
        tol = 1e-4 if dtype in (None, "float32") else 5e-2
        if diff > tol:
            raise ValueError(f"{out}: read-back text logits differ by {diff:.3g} (> {tol})")
        return diff
    model.save_pretrained(out, tokenizer=tokenizer)
    if not check:
        return 0.0
    ids = torch.tensor([[lay.text_start, 0, 1, lay.text_end, lay.speech_start, lay.codec_offset]])
    hf = AutoModelForCausalLM.from_pretrained(out).eval()
    with torch.no_grad():
        diff = (hf(ids).logits.float() - model(ids).logits.float()).abs().max().item()
    tol = 1e-4 if dtype in (None, "float32") else 5e-2
    if diff > tol:
        raise ValueError(f"{out}: read-back logits differ by {diff:.3g} (> {tol})")
    return diff


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    args = get_parser().parse_args(argv)

    log = setup_logging("lm_export")
    try:
        diff = export(
            args.checkpoint,
            args.out,
            args.dtype,
            check=not args.no_check,
            text_only=args.text_only,
        )
    except (ValueError, OSError) as e:
        print(f"lm_export: error: {e}", file=sys.stderr)
        return 1
    log.info("exported %s -> %s (read-back max logit diff %.2g)", args.checkpoint, args.out, diff)
    print(f"lm_export: {args.checkpoint} -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
