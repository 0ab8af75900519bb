"""Human-readable rendering of built sequences (``bin/show_example`` and ``doc/tasks.md``)."""

from __future__ import annotations

import numpy as np

from espnet_codec_lm.lm.vocab import STREAM_PAD, VocabLayout
from espnet_codec_lm.tasks.sequence import Example, Prefix, Span

_BOUNDARY = ("<speech_start>", "<speech_end>", "<text_start>", "<text_end>")


def token_name(layout: VocabLayout, token_id: int) -> str:
    """``<speech_start>`` ... for boundary ids, ``cb<k>:<code>`` for codec ids, else the id."""
    if layout.boundary_offset <= token_id < layout.boundary_offset + 4:
        return _BOUNDARY[token_id - layout.boundary_offset]
    if layout.is_codec(token_id):
        k, code = divmod(token_id - layout.codec_offset, layout.codebook_size)
        return f"cb{k + 1}:{code}"
    return str(token_id)


def _speech_summary(layout: VocabLayout, rows: np.ndarray, frame_rate: float, show: int) -> str:
    n = len(rows)
    masked = int((rows[:, 0] == STREAM_PAD).sum())
    parts = [f"{n} frames ({n / frame_rate:.2f} s)"]
    if masked:
        parts.append(f"{masked} masked")
    for k in range(rows.shape[1]):
        col = rows[:show, k]
        codes = [str(int(c) - layout.codebook_offset(k)) if c != STREAM_PAD else "_" for c in col]
        more = " ..." if n > show else ""
        parts.append(f"cb{k + 1}[{' '.join(codes)}{more}]")
    return "  ".join(parts)


def render(
    item: Example | Prefix,
    layout: VocabLayout,
    tokenizer,
    frame_rate: float = 50.0,
    show_frames: int = 6,
    show_ids: bool = False,
) -> str:
    """Multi-line description: one line per segment (positions, role, slot, content, loss)."""
    tokens = item.tokens
    mask = getattr(item, "loss_mask", None)
    head = f"task {item.task}: {len(tokens)} positions"
    if mask is not None:
        head += f", {int(mask.sum())} training targets"
    if item.prompt_lang:
        head += f", prompt language {item.prompt_lang}"
    lines = [head]
    for span in item.spans:
        lines.append(_render_span(span, tokens, mask, layout, tokenizer, frame_rate, show_frames))
        if show_ids and span.modality == "text":
            ids = tokens[span.start : span.end, 0]
            lines.append("      ids: " + " ".join(token_name(layout, int(i)) for i in ids))
    if isinstance(item, Prefix):
        lines.append(
            f"  -> generate {item.target_modality} until {token_name(layout, item.stop_token)}"
        )
    return "\n".join(lines)


def _render_span(span: Span, tokens, mask, layout, tokenizer, frame_rate, show_frames) -> str:
    start_tok = token_name(layout, int(tokens[span.start, 0]))
    closed = span.end - span.start > 1
    end_tok = token_name(layout, int(tokens[span.end - 1, 0])) if closed else ""
    inner = tokens[span.start + 1 : span.end - 1] if closed else tokens[:0]
    if span.modality == "speech":
        body = _speech_summary(layout, inner, frame_rate, show_frames) if closed else ""
    else:
        body = repr(tokenizer.decode([int(i) for i in inner[:, 0]])) if closed else ""
    loss = ""
    if mask is not None:
        n_loss = int(mask[span.start : span.end].sum())
        loss = f"  [loss on {n_loss}/{span.end - span.start}]"
    where = f"{span.start:5d}-{span.end - 1:<5d}"
    return f"  {where} {span.role:9s} {span.slot:15s} {start_tok} {body} {end_tok}{loss}".rstrip()
