"""DualSpeechLM: a SpeechLM that reads USTokens and an acoustic decoder that writes codec tokens.

Design (doc/dualspeechlm.md; the paper: arXiv 2508.08961):

* ``DualSpeechLM.llm`` is an ordinary :class:`~espnet_codec_lm.lm.model.SpeechLM` whose speech
  vocabulary is the USTokenizer's single codebook (``num_streams = 1``). Every task sequence is
  built by the toolkit's task pipeline from USToken dumps, so understanding tasks (ASR, S2TT)
  are exactly the CPT system's, and for generation tasks (TTS, S2ST) the LLM's loss on the
  target's USTokens *is* the semantic supervision loss (weighted by ``semantic_weight``).
* :class:`AcousticDecoder` is a small Qwen2 decoder. Its input is a prefix
  ``[speaker vector][adapter(LLM hidden states of the condition)][BOS]`` followed by the target
  frames (the sum of their ``L'_a`` codebook embeddings). Its main head scores codebook 1 plus
  an end-of-speech class (so it stops by itself), parallel heads score codebooks 2..L'_a.
* The condition is chosen by Chain-of-Condition (:data:`~espnet_codec_lm.dual.config.COC_MODES`):
  the hidden states of the question (the sequence up to the target's start token), of the
  answer (the target span: its USTokens) or of both.
* The speaker vector is a linear map of the mean code embedding of a speaker prompt (acoustic
  codes of another utterance of the speaker), or of zeros when there is none.

A checkpoint directory is the LLM's own SpeechLM checkpoint (so every LLM-only tool, e.g. ASR
decoding, loads it unchanged) plus ``acoustic.safetensors`` and ``dual.json``.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import asdict
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from espnet_codec_lm.config import config_from_dict
from espnet_codec_lm.dual.config import DualConfig
from espnet_codec_lm.lm.model import (
    SpeechLM,
    SpeechLMError,
    SpeechLMOutput,
    _replace_dir,
    hf_body_forward,
    returned_cache,
)
from espnet_codec_lm.lm.vocab import IGNORE_ID
from espnet_codec_lm.utils.fileio import read_json_object, umask_modes

ACOUSTIC_FILE = "acoustic.safetensors"
DUAL_FILE = "dual.json"


def is_dual_checkpoint(directory: str | Path) -> bool:
    """True for a directory written by :meth:`DualSpeechLM.save_pretrained`."""
    return (Path(directory) / DUAL_FILE).is_file()


class AcousticDecoder(nn.Module):
    """Prefix-conditioned autoregressive decoder of ``L'_a`` parallel codebooks (module doc)."""

    def __init__(self, cfg: DualConfig, cond_dim: int) -> None:
        super().__init__()
        from transformers import Qwen2Config, Qwen2Model

        a = cfg.decoder
        self.num_streams = cfg.acoustic_streams
        self.codebook_size = cfg.acoustic_codebook_size
        qcfg = Qwen2Config(
            vocab_size=1,  # inputs are embeddings: the body's own table is a 1-row stub
            hidden_size=a.hidden_size,
            num_hidden_layers=a.num_hidden_layers,
            num_attention_heads=a.num_attention_heads,
            num_key_value_heads=a.num_key_value_heads,
            intermediate_size=a.intermediate_size,
            max_position_embeddings=a.max_position_embeddings,
            rope_theta=a.rope_theta,
            rms_norm_eps=a.rms_norm_eps,
            initializer_range=a.initializer_range,
            use_cache=True,
        )
        self.body = Qwen2Model(qcfg)
        self.body.embed_tokens = None  # inputs are always embeddings (no unused parameters)
        H = a.hidden_size
        K, L = self.codebook_size, self.num_streams
        self.bos_id = L * K  # one embedding row after the codes of every stream
        self.code_emb = nn.Embedding(L * K + 1, H)
        self.adapter = nn.Sequential(nn.Linear(cond_dim, H), nn.GELU(), nn.Linear(H, H))
        self.speaker = nn.Linear(H, H)
        self.main_head = nn.Linear(H, K + 1, bias=False)  # codebook 1 + end of speech (K)
        self.extra_heads = nn.ModuleList(nn.Linear(H, K, bias=False) for _ in range(L - 1))
        for m in [self.code_emb, self.main_head, *self.extra_heads]:
            nn.init.normal_(m.weight, mean=0.0, std=a.initializer_range)

    @property
    def eos(self) -> int:
        """The main head's end-of-speech class."""
        return self.codebook_size

    # --- embeddings ---------------------------------------------------------------------------
    def embed_frames(self, codes: torch.Tensor) -> torch.Tensor:
        """Local codes ``[..., T, L'_a]`` (-1 = none) -> summed embeddings ``[..., T, H]``."""
        offsets = torch.arange(self.num_streams, device=codes.device) * self.codebook_size
        valid = codes.ge(0)
        ids = torch.where(valid, codes + offsets, torch.zeros_like(codes))
        emb = self.code_emb(ids) * valid.unsqueeze(-1).to(self.code_emb.weight.dtype)
        return emb.sum(dim=-2)

    def prefix(self, cond: torch.Tensor, prompt: torch.Tensor | None) -> torch.Tensor:
        """``[1 + N + 1, H]``: speaker vector, adapted condition ``[N, cond_dim]``, BOS."""
        H = self.code_emb.embedding_dim
        if prompt is not None and len(prompt):
            spk_in = self.embed_frames(prompt).mean(dim=0)
        else:
            spk_in = self.code_emb.weight.new_zeros(H)
        bos = self.code_emb.weight[self.bos_id]
        cond = self.adapter(cond.to(self.code_emb.weight.dtype))
        return torch.cat([self.speaker(spk_in)[None], cond, bos[None]], dim=0)

    # --- training -----------------------------------------------------------------------------
    def loss(
        self,
        conds: list[torch.Tensor],
        prompts: list[torch.Tensor | None],
        targets: list[torch.Tensor],
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Summed NLL and target counts per head ``[L'_a]`` of a batch of examples.

        Example ``i``: condition ``conds[i]`` ``[N_i, cond_dim]``, speaker prompt codes
        ``prompts[i]`` ``[P_i, L'_a]`` (or None), target codes ``targets[i]`` ``[T_i, L'_a]``.
        The main head has ``T_i + 1`` targets (the frames' codebook 1, then end of speech), head
        ``k`` has ``T_i``."""
        seqs, labels = [], []
        for cond, prompt, tgt in zip(conds, prompts, targets):
            pre = self.prefix(cond, prompt)
            seqs.append(torch.cat([pre, self.embed_frames(tgt)], dim=0))
            # position p predicts the frame at p + 1: the BOS predicts frame 1, the last frame EOS
            lab = tgt.new_full((len(pre) + len(tgt), self.num_streams), IGNORE_ID)
            lab[len(pre) - 1 : len(pre) - 1 + len(tgt)] = tgt
            lab[len(pre) - 1 + len(tgt), 0] = self.eos
            labels.append(lab)
        T = max(len(s) for s in seqs)
        B, H = len(seqs), seqs[0].shape[-1]
        x = seqs[0].new_zeros(B, T, H)
        y = labels[0].new_full((B, T, self.num_streams), IGNORE_ID)
        mask = torch.zeros(B, T, dtype=torch.long, device=x.device)
        for i, (s, lab) in enumerate(zip(seqs, labels)):
            x[i, : len(s)], y[i, : len(s)], mask[i, : len(s)] = s, lab, 1
        hidden = self.body(inputs_embeds=x, attention_mask=mask, use_cache=False).last_hidden_state
        flat_h, flat_y = hidden.reshape(-1, H), y.reshape(-1, self.num_streams)
        sums, counts = [], []
        for k, head in enumerate([self.main_head, *self.extra_heads]):
            idx = flat_y[:, k].ne(IGNORE_ID).nonzero(as_tuple=True)[0]
            logits = head(flat_h.index_select(0, idx)).float()
            sums.append(F.cross_entropy(logits, flat_y[idx, k], reduction="sum"))
            counts.append(idx.new_tensor(idx.numel()))
        return torch.stack(sums), torch.stack(counts)

    # --- generation ---------------------------------------------------------------------------
    def logits(
        self, embeds: torch.Tensor, attention_mask: torch.Tensor, position_ids, cache=None
    ) -> tuple[torch.Tensor, torch.Tensor, object]:
        """Main and parallel-head logits at the last position, and the cache."""
        out = hf_body_forward(
            self.body,
            cache=cache,
            inputs_embeds=embeds,
            attention_mask=attention_mask,
            position_ids=position_ids,
            use_cache=True,
        )
        last = out.last_hidden_state[:, -1]
        extra = (
            torch.stack([h(last) for h in self.extra_heads], dim=1)
            if len(self.extra_heads)
            else last.new_zeros(len(last), 0, self.codebook_size)
        )
        return self.main_head(last).float(), extra.float(), returned_cache(out)

    @torch.no_grad()
    def generate(
        self,
        conds: list[torch.Tensor],
        prompts: list[torch.Tensor | None],
        max_frames: list[int],
        min_frames: int = 1,
        top_k: int = 30,
        temperature: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> list[torch.Tensor]:
        """Sample codes ``[T_i, L'_a]`` for each example until end of speech or ``max_frames[i]``
        (batched: prefixes are left-padded; one KV-cached step per frame)."""
        pres = [self.prefix(c, p) for c, p in zip(conds, prompts)]
        B, P = len(pres), max(len(p) for p in pres)
        H = pres[0].shape[-1]
        x = pres[0].new_zeros(B, P, H)
        mask = torch.zeros(B, P, dtype=torch.long, device=x.device)
        for i, p in enumerate(pres):
            x[i, P - len(p) :], mask[i, P - len(p) :] = p, 1
        pos = (mask.cumsum(-1) - 1).clamp_min(0)
        main, extra, cache = self.logits(x, mask, pos)
        out = [[] for _ in range(B)]
        done = torch.zeros(B, dtype=torch.bool, device=x.device)
        limit = max(max_frames)
        for t in range(limit):
            if t < min_frames:
                main[:, self.eos] = -float("inf")
            frame = torch.stack(
                [_sample(main, top_k, temperature, generator)]
                + [
                    _sample(extra[:, k], top_k, temperature, generator)
                    for k in range(extra.shape[1])
                ],
                dim=-1,
            )  # [B, L'_a]
            ended = frame[:, 0].eq(self.eos)
            for i in range(B):
                if not done[i] and not ended[i] and t < max_frames[i]:
                    out[i].append(frame[i])
            done |= ended | torch.tensor([t + 1 >= m for m in max_frames], device=x.device)
            if bool(done.all()):
                break
            frame = frame.masked_fill(ended[:, None], 0)  # finished rows feed a dummy frame
            mask = torch.cat([mask, mask.new_ones(B, 1)], dim=1)
            pos = pos[:, -1:] + 1
            main, extra, cache = self.logits(self.embed_frames(frame)[:, None], mask, pos, cache)
        return [
            torch.stack(o) if o else torch.zeros(0, self.num_streams, dtype=torch.long) for o in out
        ]


def _sample(logits: torch.Tensor, top_k: int, temperature: float, generator) -> torch.Tensor:
    """One id per row: top-k sampling at ``temperature`` (greedy when ``temperature <= 0``)."""
    if temperature <= 0:
        return logits.argmax(-1)
    logits = logits / temperature
    if 0 < top_k < logits.shape[-1]:
        kth = logits.topk(top_k, dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, -float("inf"))
    probs = torch.softmax(logits, dim=-1)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)


def coc_condition(mode: str, target_start: int, target_end: int) -> tuple[int, int]:
    """``[start, end)`` of the hidden states that condition the acoustic decoder, within one
    example whose target span (its start boundary token included) is ``[target_start,
    target_end)``: the question is everything before the target's content (the target's start
    token included, it is part of the decoder's prefix), the answer the target's content and
    end token, full both."""
    q_end = target_start + 1
    if mode == "question":
        return 0, q_end
    if mode == "answer":
        return q_end, target_end
    if mode == "full":
        return 0, target_end
    raise ValueError(f"unknown Chain-of-Condition mode {mode!r}")


class DualSpeechLM(nn.Module):
    """The LLM (a SpeechLM over USTokens) plus the :class:`AcousticDecoder` (module doc)."""

    def __init__(self, llm: SpeechLM, cfg: DualConfig) -> None:
        super().__init__()
        self.llm = llm
        self.dual_cfg = cfg
        self.acoustic = AcousticDecoder(cfg, llm.config.hidden_size)

    # the parts of SpeechLM's interface the trainer and the LLM-only tools use
    @property
    def layout(self):
        return self.llm.layout

    @property
    def config(self):
        return self.llm.config

    @property
    def num_streams(self) -> int:
        return self.llm.num_streams

    @property
    def num_heads(self) -> int:
        """Loss heads: the LLM's, then one per acoustic codebook."""
        return self.llm.num_streams + self.acoustic.num_streams

    @property
    def meta(self) -> dict:
        return self.llm.meta

    @meta.setter
    def meta(self, value: dict) -> None:
        self.llm.meta = value

    @property
    def detail_names(self) -> tuple[str, ...]:
        acoustic = tuple(f"ac{k + 1}" for k in range(self.acoustic.num_streams))
        return self.llm.detail_names + acoustic

    def cast_parameters(self, dtype) -> DualSpeechLM:
        self.llm.cast_parameters(dtype)
        for p in self.acoustic.parameters():
            p.data = p.data.to(next(self.llm.parameters()).dtype)
        return self

    def forward(
        self,
        tokens: torch.Tensor,
        labels: torch.Tensor | None = None,
        *,
        ac_codes: torch.Tensor | None = None,
        ac_lens: torch.Tensor | None = None,
        ac_prompt: torch.Tensor | None = None,
        ac_prompt_lens: torch.Tensor | None = None,
        ac_cond: torch.Tensor | None = None,
        return_hidden: bool = False,
        return_token_loss: bool = False,
        **kwargs,
    ) -> SpeechLMOutput:
        """The LLM's forward (SpeechLM's arguments), plus, with ``labels``, the acoustic loss.

        Acoustic targets of the batch's ``G`` generation examples (the task pipeline's
        :class:`~espnet_codec_lm.dual.data.DualTaskDataset` makes them): ``ac_codes`` ``[G, T,
        L'_a]`` local codes (-1 after ``ac_lens``), ``ac_prompt`` ``[G, P, L'_a]`` speaker
        prompts (``ac_prompt_lens``, 0 = none), ``ac_cond`` ``[G, 3]`` = (row, start, end) of
        the condition's hidden states in the packed batch. Loss fields gain ``L'_a`` heads."""
        with_ac = labels is not None
        reweight = with_ac and self.dual_cfg.semantic_weight != 1.0
        out = self.llm(
            tokens,
            labels,
            return_hidden=True if with_ac else return_hidden,
            return_token_loss=return_token_loss or reweight,
            **kwargs,
        )
        if not with_ac:
            return out
        hidden = out.hidden_states
        if reweight:  # the semantic loss: the LLM's targets that are speech tokens
            lab0 = labels if labels.dim() == 2 else labels[..., 0]
            speech = (lab0 >= self.layout.codec_offset) & (lab0 < self.layout.boundary_offset)
            extra = out.token_loss[..., 0][speech].sum() * (self.dual_cfg.semantic_weight - 1.0)
            out.loss_sum = torch.cat([out.loss_sum[:1] + extra, out.loss_sum[1:]])
        conds, prompts, targets = [], [], []
        if ac_codes is not None and len(ac_codes):
            for g in range(len(ac_codes)):
                row, start, end = (int(v) for v in ac_cond[g])
                conds.append(hidden[row, start:end])
                n_p = int(ac_prompt_lens[g]) if ac_prompt_lens is not None else 0
                prompts.append(ac_prompt[g, :n_p] if n_p else None)
                targets.append(ac_codes[g, : int(ac_lens[g])])
            ac_sum, ac_count = self.acoustic.loss(conds, prompts, targets)
        else:  # no generation example here: a zero-weighted pass gives every parameter a grad
            dummy = torch.zeros(
                1, self.acoustic.num_streams, dtype=torch.long, device=hidden.device
            )
            ac_sum, _ = self.acoustic.loss([hidden[0, :1]], [None], [dummy])
            ac_sum = ac_sum * 0.0
            ac_count = torch.zeros(
                self.acoustic.num_streams, dtype=torch.long, device=hidden.device
            )
        w = self.dual_cfg.acoustic_weight
        out.loss_sum = torch.cat([out.loss_sum, ac_sum * w])
        out.count = torch.cat([out.count, ac_count.to(out.count.dtype)])
        out.loss = out.loss_sum.sum() / out.count.sum().clamp_min(1)
        if out.detail_sums is not None:
            out.detail_sums = torch.cat([out.detail_sums, ac_sum.detach()])
            out.detail_counts = torch.cat([out.detail_counts, ac_count.to(out.detail_counts.dtype)])
            out.detail_names = self.detail_names
        if not return_hidden:
            out.hidden_states = None
        if not return_token_loss:
            out.token_loss = None
        return out

    # --- save / load --------------------------------------------------------------------------
    def save_pretrained(self, directory: str | Path, tokenizer=None) -> None:
        """The LLM's SpeechLM checkpoint plus ``acoustic.safetensors`` and ``dual.json``
        (atomically replaces ``directory``)."""
        from safetensors.torch import save_file

        directory = Path(directory)
        directory.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent))
        try:
            inner = tmp / "model"
            self.llm.save_pretrained(inner, tokenizer=tokenizer)
            state = {
                k: v.detach().contiguous().cpu() for k, v in self.acoustic.state_dict().items()
            }
            save_file(state, str(inner / ACOUSTIC_FILE), metadata={"format": "pt"})
            meta = {"format_version": 1, "config": asdict(self.dual_cfg)}
            (inner / DUAL_FILE).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
            umask_modes(inner)
            _replace_dir(inner, directory)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    @classmethod
    def from_pretrained(
        cls, directory: str | Path, dtype=None, device=None, llm: SpeechLM | None = None
    ) -> DualSpeechLM:
        """Load a checkpoint of :meth:`save_pretrained` (``llm``: its LLM part, already loaded
        from ``directory``; the acoustic decoder then follows its dtype and device)."""
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        directory = Path(directory)
        if not is_dual_checkpoint(directory):
            raise SpeechLMError(f"{directory}: not a DualSpeechLM checkpoint (no {DUAL_FILE})")
        try:
            meta = read_json_object(directory / DUAL_FILE)
            cfg = config_from_dict(DualConfig, meta.get("config", {}), str(directory / DUAL_FILE))
        except ValueError as e:
            raise SpeechLMError(str(e)) from None
        if llm is None:
            llm = SpeechLM.from_pretrained(directory, dtype=dtype)
        else:
            device = next(llm.parameters()).device
        model = cls(llm, cfg)
        try:
            model.acoustic.load_state_dict(load_file(str(directory / ACOUSTIC_FILE)), strict=True)
        except (OSError, RuntimeError, SafetensorError) as e:
            raise SpeechLMError(f"{directory / ACOUSTIC_FILE}: {str(e).splitlines()[0]}") from None
        model.acoustic.to(dtype=next(llm.parameters()).dtype)
        if device is not None:
            model.to(device)
        return model
