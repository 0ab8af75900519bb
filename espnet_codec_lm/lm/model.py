"""The speech LM: a Qwen2 decoder over the extended vocabulary, summed codebook embeddings,
the extended LM head and parallel heads for codebooks 2..L'.

Design (SPEC section 2; id ranges in :mod:`espnet_codec_lm.lm.vocab`):

* ``SpeechLM.lm`` is a plain ``transformers`` ``Qwen2ForCausalLM`` whose vocabulary is the whole
  extended vocabulary (``VocabLayout.size`` rows). Its state dict is therefore exactly the one a
  Hugging Face Qwen2 has, so a checkpoint directory *is* a Hugging Face directory that
  ``AutoModelForCausalLM.from_pretrained`` loads (backbone + extended head); the parallel heads and
  the layout are saved beside it.
* Input: tokens ``[B, T, L']``; the embedding of a position is the sum of the embeddings of its
  non-``STREAM_PAD`` streams (a speech frame sums its L' codebook tokens, a text or boundary
  token is its own embedding).
* Output: the main head (``lm.lm_head``) scores the whole extended vocabulary (text, codebook 1,
  boundary tokens); ``extra_heads[k-1]`` scores only codebook ``k+1``'s ``codebook_size`` ids
  (local indices ``0..codebook_size-1``; add ``layout.codebook_offset(k)`` for vocabulary ids).
  The paper used full-vocabulary projections for these heads (943.5M parameters at paper scale);
  restricting them is equivalent at decoding, where other ids are masked anyway, and saves
  ~317M parameters (doc/lm.md).
* Loss: next-position cross-entropy on pre-shifted labels ``[B, T, L']`` (``IGNORE_ID`` where
  there is no target; see :func:`espnet_codec_lm.lm.labels.shift_labels`). Stream 0 trains the
  main head, stream k > 0 trains extra head k (speech targets only). The output carries summed
  NLL and target counts per head (for global-batch normalisation by the trainer), ``loss`` =
  total NLL / total targets, and a report split ``text`` / ``cb1`` / ... / ``cbL'``.
* Head logits are computed only at positions that have a target, so a training step costs no
  more than a bare ``Qwen2ForCausalLM`` step (bench/lm_step.py).
* Packed rows: pass ``position_ids`` restarting at 0 for each example and no ``attention_mask``;
  transformers' masking utilities then build a block-diagonal causal mask (sdpa and eager), so
  no attention crosses examples (test/lm/test_lm_model.py checks packed == separate).
"""

from __future__ import annotations

import copy
import functools
import inspect
import json
import os
import pickle
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from espnet_codec_lm.lm.vocab import IGNORE_ID, STREAM_PAD, VocabLayout
from espnet_codec_lm.utils.fileio import read_json_object, umask_modes

CONFIG_FILE = "config.json"
HEADS_FILE = "speech_heads.safetensors"
LAYOUT_FILE = "vocab_layout.json"
META_FILE = "speech_lm.json"
FORMAT_VERSION = 1


class SpeechLMError(ValueError):
    """A checkpoint / base model / input problem, reported on one line naming the path."""


@functools.cache
def _cache_kwarg(forward_type: type) -> str:
    """The KV-cache keyword of a transformers base model: ``cache`` since 5.x (the old
    ``past_key_values`` warns there and goes in 5.40), ``past_key_values`` before."""
    params = inspect.signature(forward_type.forward).parameters
    return "cache" if "cache" in params else "past_key_values"


def hf_body_forward(body: nn.Module, cache=None, **kwargs):
    """``body(**kwargs)`` with the KV cache under the name this transformers version takes."""
    return body(**kwargs, **{_cache_kwarg(type(body)): cache})


def returned_cache(out) -> Any:
    """The KV cache of a transformers model output (``cache``, or ``past_key_values`` before 5.x)."""
    fields = getattr(out, "__dataclass_fields__", {})
    return out.cache if "cache" in fields else out.past_key_values


@dataclass
class SpeechLMOutput:
    """What :meth:`SpeechLM.forward` returns; fields are None when not requested.

    Loss fields (with ``labels``): ``loss_sum`` / ``count`` are per *head* (``[L']``: main head,
    then the parallel heads for codebooks 2..L'), summed NLL with grad and number of targets,
    so a trainer can normalise over a global batch; ``loss = loss_sum.sum() / count.sum()``
    (every target token weighs the same; a speech frame has L' targets, a text token one).
    ``detail_sums`` / ``detail_counts`` split the main head into non-codec targets (``text``:
    text + boundary tokens) and codebook 1, for reporting (names in ``detail_names``)."""

    loss: torch.Tensor | None = None
    loss_sum: torch.Tensor | None = None  # float [L'], with grad
    count: torch.Tensor | None = None  # long [L']
    token_loss: torch.Tensor | None = None  # float [B, T, L'], 0 where ignored (on request)
    detail_sums: torch.Tensor | None = None  # float [L' + 1], detached
    detail_counts: torch.Tensor | None = None  # long [L' + 1]
    detail_names: tuple[str, ...] = field(default=())  # ("text", "cb1", ..., "cbL'")
    #: main head ``[B, T', V]`` and parallel heads ``[B, T', L'-1, codebook_size]``
    logits: torch.Tensor | None = None
    extra_logits: torch.Tensor | None = None
    past_key_values: Any = None
    hidden_states: torch.Tensor | None = None
    #: ``[B, heads, T, past + T]`` attention probabilities per probed layer (``return_attentions``)
    attentions: tuple[torch.Tensor, ...] | None = None

    def head_losses(self) -> dict[str, float]:
        """Mean NLL by target kind: ``text``, ``cb1``, ..., ``cbL'`` (``nan`` without targets)."""
        if self.detail_sums is None:
            return {}
        sums = self.detail_sums.float().cpu().tolist()
        counts = self.detail_counts.cpu().tolist()
        return {
            n: (s / c if c else float("nan")) for n, s, c in zip(self.detail_names, sums, counts)
        }


class SpeechLM(nn.Module):
    """Qwen2 backbone + summed codebook embeddings + extended head + parallel codebook heads.

    Build one with :func:`espnet_codec_lm.lm.build.build_speech_lm` (init modes) or
    :meth:`from_pretrained` (a saved checkpoint)."""

    def __init__(self, config, layout: VocabLayout, lm=None) -> None:
        """``config``: a ``Qwen2Config`` whose ``vocab_size`` equals ``layout.size``; ``lm``: an
        existing ``Qwen2ForCausalLM`` of that config (else one is created with random weights)."""
        super().__init__()
        from transformers import Qwen2ForCausalLM

        if config.vocab_size != layout.size:
            raise SpeechLMError(
                f"config vocab_size {config.vocab_size} != vocabulary layout size {layout.size}"
            )
        self.layout = layout
        self.lm = lm if lm is not None else Qwen2ForCausalLM(config)
        hidden = config.hidden_size
        self.extra_heads = nn.ModuleList(
            nn.Linear(hidden, layout.codebook_size, bias=False)
            for _ in range(layout.num_streams - 1)
        )
        for head in self.extra_heads:
            nn.init.normal_(head.weight, mean=0.0, std=config.initializer_range)
        #: provenance (init mode, base model), saved in speech_lm.json
        self.meta: dict = {}

    # --- parts ------------------------------------------------------------------------------
    @property
    def config(self):
        """The (extended-vocabulary) ``Qwen2Config``."""
        return self.lm.config

    @property
    def backbone(self):
        """The ``Qwen2Model`` (embedding, decoder layers, final norm)."""
        return self.lm.model

    @property
    def num_streams(self) -> int:
        return self.layout.num_streams

    @property
    def detail_names(self) -> tuple[str, ...]:
        """Names of the reported losses: main head on non-codec targets, then one per codebook."""
        return ("text",) + tuple(f"cb{k + 1}" for k in range(self.layout.num_streams))

    def cast_parameters(self, dtype: str | torch.dtype) -> SpeechLM:
        """Cast the weights to ``dtype`` but keep float buffers (RoPE ``inv_freq``) in float32.

        ``module.to(torch.bfloat16)`` would also round the rotary frequencies, so a model cast
        that way differs from the same weights loaded with ``from_pretrained(dtype=...)``."""
        dtype = _as_dtype(dtype)
        for p in self.parameters():
            p.data = p.data.to(dtype)
        return self

    # --- forward ----------------------------------------------------------------------------
    def embed(self, tokens: torch.Tensor) -> torch.Tensor:
        """``[B, T, L']`` (or ``[B, T]`` text-only) ids -> ``[B, T, hidden]``: sum over streams,
        ``STREAM_PAD`` streams contribute nothing."""
        if tokens.dim() == 2:
            tokens = tokens.unsqueeze(-1)
        valid = tokens.ne(STREAM_PAD)
        emb = self.lm.model.embed_tokens(tokens.masked_fill(~valid, 0))  # [B, T, L', H]
        return (emb * valid.unsqueeze(-1).to(emb.dtype)).sum(dim=2)

    def extra_logits(self, hidden: torch.Tensor) -> torch.Tensor | None:
        """Parallel heads on hidden states ``[..., H]`` -> ``[..., L'-1, codebook_size]``."""
        if not len(self.extra_heads):
            return None
        return torch.stack([head(hidden) for head in self.extra_heads], dim=-2)

    def forward(
        self,
        tokens: torch.Tensor,
        labels: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        past_key_values=None,
        use_cache: bool = False,
        logits_to_keep: int = 0,
        return_logits: bool | None = None,
        return_hidden: bool = False,
        return_token_loss: bool = False,
        label_weights: torch.Tensor | None = None,
        return_attentions: bool = False,
    ) -> SpeechLMOutput:
        """Run the model.

        Args:
            tokens: ``[B, T, L']`` vocabulary ids, ``STREAM_PAD`` in unused streams (``[B, T]``
                is accepted for text-only input). One decoding step is ``[B, 1, L']``.
            labels: ``[B, T, L']`` pre-shifted targets or ``IGNORE_ID``; stream k > 0 holds
                codebook-(k+1) vocabulary ids. When given, the loss fields are filled.
            attention_mask: ``[B, past + T]`` 1 = real token, 0 = padding (left padding for
                batched decoding). Leave None for packed rows.
            position_ids: ``[B, T]``; restart at 0 for each packed example.
            past_key_values / use_cache: the transformers KV cache (``DynamicCache``); pass the
                returned ``past_key_values`` back for the next step.
            logits_to_keep: if > 0, logits only for the last ``logits_to_keep`` positions.
            return_logits: default True without labels, False with labels (saves memory).
            return_hidden: also return the final hidden states ``[B, T, H]``.
            return_token_loss: with labels, also the per-target NLL ``[B, T, L']`` (for
                per-task statistics).
            label_weights: ``[B, T]`` float, a weight per position for all its targets; the
                summed losses and counts are then weighted (``loss = sum w*nll / sum w``).
                ``token_loss`` stays unweighted.
            return_attentions: also return attention probabilities ``[B, heads, T, past + T]``:
                one per layer that :meth:`probe_attention` chose, holding its chosen heads (the
                trainer's guided attention); with the eager attention implementation, every
                layer's and head's.
        """
        if tokens.dim() == 2:
            tokens = tokens.unsqueeze(-1)
        if tokens.dim() != 3 or tokens.shape[-1] not in (1, self.num_streams):
            raise SpeechLMError(
                f"tokens must be [B, T, {self.num_streams}], got {tuple(tokens.shape)}"
            )
        out = hf_body_forward(
            self.lm.model,
            cache=past_key_values,
            inputs_embeds=self.embed(tokens),
            attention_mask=attention_mask,
            position_ids=position_ids,
            use_cache=use_cache,  # explicit: the config default (True) would disable packing
            output_attentions=return_attentions,
        )
        hidden = out.last_hidden_state
        result = SpeechLMOutput(
            past_key_values=returned_cache(out) if use_cache else None,
            hidden_states=hidden if return_hidden else None,
        )
        if return_attentions:
            if not out.attentions or any(a is None for a in out.attentions):
                raise SpeechLMError(
                    "return_attentions needs attention layers that report probabilities "
                    "(SpeechLM.probe_attention, or the eager attention implementation)"
                )
            result.attentions = tuple(out.attentions)
        if labels is not None:
            self._fill_loss(result, hidden, labels, return_token_loss, label_weights)
        if return_logits is None:
            return_logits = labels is None
        if return_logits:
            kept = hidden[:, -logits_to_keep:] if logits_to_keep > 0 else hidden
            result.logits = self.lm.lm_head(kept)
            result.extra_logits = self.extra_logits(kept)
        return result

    def _fill_loss(
        self,
        result: SpeechLMOutput,
        hidden: torch.Tensor,
        labels: torch.Tensor,
        return_token_loss: bool,
        label_weights: torch.Tensor | None = None,
    ) -> None:
        lay = self.layout
        if labels.dim() == 2:
            labels = labels.unsqueeze(-1)
        if labels.shape[:2] != hidden.shape[:2] or labels.shape[-1] not in (1, lay.num_streams):
            raise SpeechLMError(
                f"labels must be [B, T, {lay.num_streams}] matching tokens, got "
                f"{tuple(labels.shape)} for hidden states {tuple(hidden.shape[:2])}"
            )
        flat_h = hidden.reshape(-1, hidden.shape[-1])
        flat_y = labels.reshape(-1, labels.shape[-1])
        flat_w = None
        if label_weights is not None:
            if label_weights.shape != labels.shape[:2]:
                raise SpeechLMError(
                    f"label_weights must be [B, T] = {tuple(labels.shape[:2])}, got "
                    f"{tuple(label_weights.shape)}"
                )
            flat_w = label_weights.reshape(-1).float()

        def total(nll: torch.Tensor, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            """(summed loss, count) of the targets at ``idx``, weighted if weights are given."""
            if flat_w is None:
                return nll.sum(), idx.new_tensor(idx.numel())
            w = flat_w.index_select(0, idx)
            return (nll * w).sum(), w.sum()

        # [B, T, L'] filled through a flat view: the output itself is no view (FSDP2 warns on
        # views among a module's outputs)
        token_loss = (
            flat_h.new_zeros(*labels.shape[:2], lay.num_streams, dtype=torch.float32)
            if return_token_loss
            else None
        )
        flat_token_loss = token_loss.view(-1, lay.num_streams) if return_token_loss else None

        # main head: only positions with a target (no [B, T, V] logits for ignored positions)
        y0 = flat_y[:, 0]
        idx = (y0 != IGNORE_ID).nonzero(as_tuple=True)[0]
        t0 = y0.index_select(0, idx)
        logits0 = self.lm.lm_head(flat_h.index_select(0, idx)).float()
        nll0 = F.cross_entropy(logits0, t0, reduction="none")
        cb1_lo, cb1_hi = lay.codebook_range(0)
        is_cb1 = (t0 >= cb1_lo) & (t0 < cb1_hi)
        s0, c0 = total(nll0, idx)
        sums, counts = [s0], [c0]
        detail = [nll0.detach().masked_fill(is_cb1, 0.0).sum()]
        detail_counts = [(~is_cb1).sum()]
        if token_loss is not None:
            flat_token_loss[idx, 0] = nll0

        # parallel heads: speech targets only; every head runs (maybe on 0 rows) so that
        # DDP/FSDP see a gradient for every parameter on every rank
        for k, head in enumerate(self.extra_heads, start=1):
            yk = flat_y[:, k] if flat_y.shape[1] > k else flat_y.new_empty(0)
            idx_k = (yk != IGNORE_ID).nonzero(as_tuple=True)[0]
            tk = yk.index_select(0, idx_k) - lay.codebook_offset(k)
            if tk.numel() and (int(tk.min()) < 0 or int(tk.max()) >= lay.codebook_size):
                lo, hi = lay.codebook_range(k)
                raise SpeechLMError(
                    f"labels of stream {k} must be codebook-{k + 1} ids in [{lo}, {hi})"
                )
            logits_k = head(flat_h.index_select(0, idx_k)).float()
            nll_k = F.cross_entropy(logits_k, tk, reduction="none")
            s_k, c_k = total(nll_k, idx_k)
            sums.append(s_k)
            counts.append(c_k)
            if token_loss is not None:
                flat_token_loss[idx_k, k] = nll_k

        result.loss_sum = torch.stack(sums)
        result.count = torch.stack(counts)
        result.loss = result.loss_sum.sum() / result.count.sum().clamp_min(1)
        result.detail_sums = torch.cat(
            [
                torch.stack(detail),
                (nll0.detach().masked_fill(~is_cb1, 0.0).sum())[None],
                result.loss_sum.detach()[1:],
            ]
        )
        result.detail_counts = torch.cat(
            [torch.stack(detail_counts), is_cb1.sum()[None], result.count[1:]]
        )
        result.detail_names = self.detail_names
        result.token_loss = token_loss

    def probe_attention(self, layers: list[int], heads: list[int]) -> None:
        """Run every layer with SDPA, and let ``heads`` of ``layers`` report their attention
        probabilities when ``forward(return_attentions=True)`` asks (lm/attention_probe.py).
        Saved checkpoints keep the default attention."""
        # lazy: imports transformers and registers an attention there, only when probing
        from espnet_codec_lm.lm.attention_probe import probe_heads

        n_layers, n_heads = self.lm.config.num_hidden_layers, self.lm.config.num_attention_heads
        bad = [x for x in layers if not 0 <= x < n_layers] + [
            x for x in heads if not 0 <= x < n_heads
        ]
        if bad or not layers or not heads:
            raise SpeechLMError(
                f"layers {layers} / heads {heads} empty or out of range for a model of "
                f"{n_layers} layers x {n_heads} heads"
            )
        probe_heads(self.lm, layers, heads)

    # --- save / load ------------------------------------------------------------------------
    def save_pretrained(self, directory: str | Path, tokenizer=None) -> None:
        """Write a checkpoint that is also a Hugging Face directory (atomically replaces
        ``directory``): ``config.json`` + ``model.safetensors`` (``AutoModelForCausalLM``
        loads them), ``speech_heads.safetensors``, ``vocab_layout.json``, ``speech_lm.json``
        and the text tokenizer's files (``text_tokenizer.json`` + the kind's own)."""
        from safetensors.torch import save_file

        directory = Path(directory)
        directory.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
        try:
            self.lm.save_pretrained(str(tmp))
            if len(self.extra_heads):
                heads = {
                    k: v.detach().contiguous().cpu()
                    for k, v in self.extra_heads.state_dict().items()
                }
                save_file(heads, str(tmp / HEADS_FILE), metadata={"format": "pt"})
            self.layout.save(tmp / LAYOUT_FILE)
            meta = {"format_version": FORMAT_VERSION, "architecture": "SpeechLM", **self.meta}
            (tmp / META_FILE).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
            if tokenizer is not None:
                tokenizer.save(tmp)
            umask_modes(tmp)  # mkdtemp's 0700 and safetensors' 0600 would stay
            _replace_dir(tmp, directory)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    def save_text_llm(self, directory: str | Path, tokenizer=None) -> None:
        """Write only the text LLM inside this model as a plain Hugging Face directory: the
        backbone with the embedding and LM-head rows of the text vocabulary (``layout.text_rows``),
        no codec or boundary rows, no parallel heads. This is the format of a base LLM such as
        Qwen1.5, so ``init: text_llm`` can start from it. The mini recipe uses it to turn a
        model trained on text alone into its stand-in for Qwen1.5 (doc/lm.md)."""
        from transformers import Qwen2ForCausalLM

        rows = self.layout.text_rows
        config = copy.deepcopy(self.lm.config)
        config.vocab_size = rows
        with torch.device("meta"):
            text_lm = Qwen2ForCausalLM(config)
        state = {
            k: v.detach().clone()
            for k, v in self.lm.state_dict().items()
            if k not in ("model.embed_tokens.weight", "lm_head.weight")
        }
        state["model.embed_tokens.weight"] = (
            self.lm.model.embed_tokens.weight[:rows].detach().clone()
        )
        if not config.tie_word_embeddings:
            state["lm_head.weight"] = self.lm.lm_head.weight[:rows].detach().clone()
        text_lm.load_state_dict(state, strict=False, assign=True)
        if config.tie_word_embeddings:
            text_lm.tie_weights()
        directory = Path(directory)
        directory.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
        try:
            os.chmod(tmp, 0o755)
            text_lm.save_pretrained(str(tmp))
            if tokenizer is not None:
                tokenizer.save(tmp)
            umask_modes(tmp)  # mkdtemp's 0700 and safetensors' 0600 would stay
            _replace_dir(tmp, directory)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    @classmethod
    def from_pretrained(
        cls,
        directory: str | Path,
        dtype: str | torch.dtype | None = None,
        attn_implementation: str | None = None,
        device: str | torch.device | None = None,
    ) -> SpeechLM:
        """Load a checkpoint written by :meth:`save_pretrained`."""
        from safetensors import SafetensorError
        from safetensors.torch import load_file
        from transformers import Qwen2ForCausalLM

        directory = Path(directory)
        if not directory.is_dir():
            raise SpeechLMError(f"{directory}: checkpoint directory not found")
        for name in (CONFIG_FILE, LAYOUT_FILE, META_FILE):
            if not (directory / name).is_file():
                raise SpeechLMError(f"{directory}: not a SpeechLM checkpoint (no {name})")
        try:
            layout = VocabLayout.load(directory / LAYOUT_FILE)
            meta = read_json_object(directory / META_FILE)
        except ValueError as e:
            raise SpeechLMError(str(e)) from None
        kwargs: dict = {}
        if dtype is not None:
            kwargs["dtype"] = _as_dtype(dtype)
        if attn_implementation is not None:
            kwargs["attn_implementation"] = attn_implementation
        try:
            lm = Qwen2ForCausalLM.from_pretrained(str(directory), local_files_only=True, **kwargs)
        except pickle.UnpicklingError as e:  # a .bin whose pickle weights_only=True refuses
            why = [ln for ln in str(e).splitlines() if "WeightsUnpickler error:" in ln]
            why = why[0].split("error:", 1)[1].split(". Please")[0].strip() if why else "code"
            raise SpeechLMError(f"{directory}: refusing to unpickle the weights: {why}") from None
        except (OSError, ValueError, RuntimeError, SafetensorError) as e:  # corrupt weights too
            msg = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise SpeechLMError(f"{directory}: cannot load the backbone: {msg}") from None
        if lm.config.vocab_size != layout.size:
            raise SpeechLMError(
                f"{directory}: config vocab_size {lm.config.vocab_size} != {LAYOUT_FILE} size "
                f"{layout.size}"
            )
        model = cls(lm.config, layout, lm=lm)
        if len(model.extra_heads):
            heads_file = directory / HEADS_FILE
            if not heads_file.is_file():
                raise SpeechLMError(
                    f"{directory}: no {HEADS_FILE} for {layout.num_streams} streams"
                )
            try:
                state = load_file(str(heads_file))
                model.extra_heads.load_state_dict(state, strict=True)
            except (RuntimeError, SafetensorError) as e:
                raise SpeechLMError(f"{heads_file}: {str(e).splitlines()[0]}") from None
        model.extra_heads.to(dtype=lm.dtype)
        model.meta = {k: v for k, v in meta.items() if k not in ("format_version", "architecture")}
        if device is not None:
            model.to(device)
        return model


def _as_dtype(dtype: str | torch.dtype) -> torch.dtype:
    if isinstance(dtype, torch.dtype):
        return dtype
    try:
        return {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[
            dtype
        ]
    except KeyError:
        raise SpeechLMError(f"unknown dtype {dtype!r} (float32, bfloat16, float16)") from None


def _replace_dir(src: Path, dst: Path) -> None:
    """Move the finished directory ``src`` onto ``dst``; an old ``dst`` is removed only after
    the new one is in place, so a crash leaves one complete copy."""
    if dst.exists():
        old = dst.with_name(f".{dst.name}.old-{os.getpid()}")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(dst, old)
        os.replace(src, dst)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(src, dst)


def parameter_count(model: SpeechLM) -> dict[str, int]:
    """Parameters by part (tied embeddings counted once); works on the meta device."""
    emb = model.lm.model.embed_tokens.weight
    head = model.lm.lm_head.weight
    tied = head is emb
    n_emb = emb.numel()
    n_head = 0 if tied else head.numel()
    n_extra = sum(p.numel() for p in model.extra_heads.parameters())
    n_backbone = sum(p.numel() for p in model.lm.model.parameters()) - n_emb
    return {
        "transformer": n_backbone,
        "embedding": n_emb,
        "lm_head": n_head,
        "extra_heads": n_extra,
        "total": n_backbone + n_emb + n_head + n_extra,
        "tied": int(tied),
    }
