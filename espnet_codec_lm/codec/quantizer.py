"""Residual vector quantiser with quantiser dropout, built against codebook collapse.

Measured on this project: a plain RVQ (gradient-updated codes, no re-initialisation) trained on
CPU collapsed to 5-8 used codes per codebook. The remedies here, combined:

* **EMA codebook updates (VQ-VAE-2 / EnCodec).** A code moves to the running mean of the vectors
  assigned to it; much faster than a codebook loss at the generator's learning rate.
* **k-means initialisation** of each codebook on the first training batch.
* **Dead-code replacement.** A code not chosen during the last ``dead_code_frames`` frames its
  codebook quantised is reset to a random vector of the current batch (a window in frames, not
  steps, so it means the same at any batch size and for the rarely-active last codebooks).

Two kinds of codes: ``euclidean`` (default; SoundStream / EnCodec: codes in the latent space,
nearest by Euclidean distance, every stage removes part of the residual) and ``factorized``
(DAC: each stage projects the residual to ``codebook_dim`` dimensions, L2-normalises it and picks
the code of largest cosine similarity, then projects back). doc/codec.md compares them.

Quantiser dropout draws the number of codebooks from the target bandwidths (0.5-4 kbps -> 1, 2,
3, 4, 8 codebooks at 50 Hz x 10 bits), per segment or per step, so the first codebooks carry most
of the signal.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from espnet_codec_lm.codec.config import QuantizerConfig
from espnet_codec_lm.codec.modules import fp32


def _kmeans(
    x: torch.Tensor, k: int, iters: int, gen: torch.Generator | None, spherical: bool
) -> torch.Tensor:
    """k-means of ``x [N, d]`` into ``k`` centres (cosine when ``spherical``: unit vectors);
    with fewer vectors than centres they are sampled with replacement plus jitter."""
    n = x.shape[0]
    # random draws on the CPU generator, then moved: the same stream on any device
    if n < k:
        idx = torch.randint(0, n, (k,), generator=gen)
    else:
        idx = torch.randperm(n, generator=gen)[:k]
    centres = x[idx.to(x.device)].clone()
    if n < k:
        noise = torch.randn(centres.shape, generator=gen).to(x.device)
        centres = centres + 0.05 * x.std() * noise
    for _ in range(iters):
        if spherical:
            assign = (x @ F.normalize(centres, dim=-1).t()).argmax(-1)
        else:
            assign = torch.cdist(x, centres).argmin(-1)
        sums = torch.zeros_like(centres).index_add_(0, assign, x)
        counts = torch.bincount(assign, minlength=k)
        moved = counts > 0
        centres[moved] = sums[moved] / counts[moved, None]
    return F.normalize(centres, dim=-1) if spherical else centres


class FactorizedCodebook(nn.Module):
    """One RVQ stage: project to ``codebook_dim``, L2-normalise, nearest code, project back."""

    spherical = True

    def __init__(self, dim: int, cfg: QuantizerConfig) -> None:
        super().__init__()
        self.size = cfg.codebook_size
        self.decay = cfg.ema_decay
        self.kmeans_iters = cfg.kmeans_iters
        self.dead_frames = cfg.dead_code_frames
        self.in_proj = nn.utils.parametrizations.weight_norm(nn.Conv1d(dim, cfg.codebook_dim, 1))
        self.out_proj = nn.utils.parametrizations.weight_norm(nn.Conv1d(cfg.codebook_dim, dim, 1))
        embed = F.normalize(torch.randn(cfg.codebook_size, cfg.codebook_dim), dim=-1)
        self.register_buffer("embed", embed)
        self.register_buffer("embed_sum", embed.clone())
        self.register_buffer("cluster_size", torch.ones(cfg.codebook_size))
        self.register_buffer("initialized", torch.tensor(False))
        # frames this codebook has quantised, and that count when each code was last chosen
        self.register_buffer("frames_seen", torch.tensor(0, dtype=torch.long))
        self.register_buffer("last_used", torch.zeros(cfg.codebook_size, dtype=torch.long))

    def project(self, residual: torch.Tensor) -> torch.Tensor:
        """``residual [B, D, T]`` -> unit vectors ``[B, T, d]``."""
        return F.normalize(self.in_proj(residual).transpose(1, 2), dim=-1)

    def nearest(self, e: torch.Tensor) -> torch.Tensor:
        """Indices of the codes closest (cosine) to unit vectors ``e [..., d]``."""
        return (e @ self.embed.t()).argmax(-1)

    def lookup(self, codes: torch.Tensor) -> torch.Tensor:
        """``codes [B, T]`` -> contribution to the latent ``[B, D, T]``."""
        return self.out(F.embedding(codes, self.embed))

    def out(self, q: torch.Tensor) -> torch.Tensor:
        """Code vectors ``[B, T, d]`` -> contribution to the latent ``[B, D, T]``."""
        return self.out_proj(q.transpose(1, 2))

    @torch.no_grad()
    def update(self, e: torch.Tensor, codes: torch.Tensor, gen: torch.Generator | None) -> None:
        """EMA update from the unit vectors ``e [N, d]`` assigned to ``codes [N]``; then reset
        codes unused in the last ``dead_code_frames`` frames to random vectors of this batch."""
        n = e.shape[0]
        if n == 0:
            return
        if not bool(self.initialized):
            centres = _kmeans(e, self.size, self.kmeans_iters, gen, self.spherical)
            self.embed.copy_(centres)
            self.embed_sum.copy_(centres * (n / self.size))
            self.cluster_size.fill_(n / self.size)
            self.initialized.fill_(True)
            self.frames_seen.fill_(n)
            self.last_used.fill_(n)
            return
        counts = torch.bincount(codes, minlength=self.size).to(e.dtype)
        sums = torch.zeros_like(self.embed).index_add_(0, codes, e)
        self.cluster_size.mul_(self.decay).add_(counts, alpha=1 - self.decay)
        self.embed_sum.mul_(self.decay).add_(sums, alpha=1 - self.decay)
        self.embed.copy_(self._centres())
        self.frames_seen += n
        self.last_used[counts > 0] = self.frames_seen
        dead = (self.frames_seen - self.last_used) > self.dead_frames
        n_dead = int(dead.sum())
        if n_dead:
            pick = torch.randint(0, n, (n_dead,), generator=gen).to(e.device)
            noise = 0.01 * torch.randn(n_dead, e.shape[1], generator=gen).to(e.device)
            new = e[pick] + noise * (1.0 if self.spherical else float(e.std()))
            new = F.normalize(new, dim=-1) if self.spherical else new
            mean = self.cluster_size.mean()
            self.embed[dead] = new
            self.cluster_size[dead] = mean
            self.embed_sum[dead] = new * mean
            self.last_used[dead] = self.frames_seen

    def _centres(self) -> torch.Tensor:
        return F.normalize(self.embed_sum, dim=-1)


class EuclideanCodebook(FactorizedCodebook):
    """One RVQ stage in the latent space itself (SoundStream / EnCodec): nearest code by
    Euclidean distance, codes are EMA means; each stage really removes part of the residual."""

    spherical = False

    def __init__(self, dim: int, cfg: QuantizerConfig) -> None:
        nn.Module.__init__(self)
        self.size = cfg.codebook_size
        self.decay = cfg.ema_decay
        self.kmeans_iters = cfg.kmeans_iters
        self.dead_frames = cfg.dead_code_frames
        embed = torch.randn(cfg.codebook_size, dim)
        self.register_buffer("embed", embed)
        self.register_buffer("embed_sum", embed.clone())
        self.register_buffer("cluster_size", torch.ones(cfg.codebook_size))
        self.register_buffer("initialized", torch.tensor(False))
        self.register_buffer("frames_seen", torch.tensor(0, dtype=torch.long))
        self.register_buffer("last_used", torch.zeros(cfg.codebook_size, dtype=torch.long))

    def project(self, residual: torch.Tensor) -> torch.Tensor:
        return residual.transpose(1, 2)

    def nearest(self, e: torch.Tensor) -> torch.Tensor:
        # argmin ||e - c||^2 = argmax (2 e.c - ||c||^2)
        return (2 * e @ self.embed.t() - self.embed.square().sum(-1)).argmax(-1)

    def lookup(self, codes: torch.Tensor) -> torch.Tensor:
        return F.embedding(codes, self.embed).transpose(1, 2)

    def out(self, q: torch.Tensor) -> torch.Tensor:
        return q.transpose(1, 2)

    def _centres(self) -> torch.Tensor:
        n = self.cluster_size.sum()
        smoothed = (self.cluster_size + 1e-5) / (n + self.size * 1e-5) * n  # Laplace smoothing
        return self.embed_sum / smoothed[:, None]


@dataclass
class DataParallelSync:
    """How the quantiser of one of ``world_size`` data-parallel replicas sees the global batch:
    ``gather`` concatenates a tensor's rows over the ranks in rank order (each rank holds a
    contiguous share of the batch, so that is the order of the one-process batch). The codebook
    updates (k-means, EMA, dead codes) then use the frames of the whole batch, identically on
    every rank, and the replicas' codebooks stay equal to one process's."""

    gather: Callable[[torch.Tensor], torch.Tensor]
    world_size: int


class ResidualVQ(nn.Module):
    """``num_codebooks`` factorised codebooks applied to successive residuals."""

    def __init__(self, dim: int, cfg: QuantizerConfig, frame_rate: float) -> None:
        super().__init__()
        self.cfg = cfg
        cls = EuclideanCodebook if cfg.kind == "euclidean" else FactorizedCodebook
        self.codebooks = nn.ModuleList([cls(dim, cfg) for _ in range(cfg.num_codebooks)])
        bits = math.log2(cfg.codebook_size)
        self.dropout_nq = sorted(
            {self.n_q_for_bandwidth(b, frame_rate, bits) for b in cfg.bandwidths}
        )
        self.gen: torch.Generator | None = None  # set by the trainer for reproducible updates
        self.sync: DataParallelSync | None = None  # set by the trainer under torchrun

    def n_q_for_bandwidth(self, kbps: float, frame_rate: float, bits: float) -> int:
        """Codebooks that fit ``kbps`` (at least 1, at most all)."""
        n = int(round(kbps * 1000 / (frame_rate * bits)))
        return max(1, min(self.cfg.num_codebooks, n))

    def draw_n_q(self, batch: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Quantiser dropout: the number of codebooks for each of ``batch`` segments."""
        choices = torch.tensor(self.dropout_nq)
        if self.cfg.dropout_per_sample:
            return choices[torch.randint(0, len(choices), (batch,), generator=generator)]
        return choices[torch.randint(0, len(choices), (1,), generator=generator)].expand(batch)

    def forward(
        self, z: torch.Tensor, n_q: torch.Tensor | int
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Quantise ``z [B, D, T]`` with ``n_q`` codebooks (an int or one per segment).

        Returns the quantised latent (straight-through), codes ``[B, max n_q, T]`` and the
        commitment loss (mean squared distance of the projected residuals to their codes).
        """
        with fp32(z):  # codes, EMA and commitment in fp32 (also under bf16 autocast)
            return self._forward(z.float(), n_q)

    def _forward(
        self, z: torch.Tensor, n_q: torch.Tensor | int
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        b = z.shape[0]
        if isinstance(n_q, int):
            n_q_t = torch.full((b,), n_q, device=z.device)
        else:
            n_q_t = n_q.to(device=z.device, dtype=torch.long)
        sync = self.sync if self.training else None
        # under data parallelism every rank runs the stages of the global batch's largest n_q
        max_q = int((sync.gather(n_q_t) if sync is not None else n_q_t).max())
        residual = z
        z_q = torch.zeros_like(z)
        codes, commit = [], z.new_zeros(())
        for i, cb in enumerate(self.codebooks[:max_q]):
            active = n_q_t > i  # segments that still use this codebook
            e = cb.project(residual)
            idx = cb.nearest(e.detach())
            q = F.embedding(idx, cb.embed)
            if self.training:
                sel = active[:, None].expand_as(idx)
                e_sel, idx_sel = e.detach()[sel], idx[sel]
                if sync is None:
                    if sel.any():
                        commit = commit + (e - q).pow(2).mean(-1)[sel].mean()
                else:
                    e_sel, idx_sel = sync.gather(e_sel), sync.gather(idx_sel)
                    if e_sel.shape[0]:  # frames of the global batch at this stage
                        # DDP averages the ranks' gradients: world x (this rank's sum / global
                        # count) averages to the one-process mean
                        scale = sync.world_size / e_sel.shape[0]
                        commit = commit + (e - q).pow(2).mean(-1)[sel].sum() * scale
                cb.update(e_sel, idx_sel, self.gen)
            q_st = e + (q - e).detach()  # straight-through: decoder grads reach the encoder
            contrib = cb.out(q_st) * active[:, None, None].to(z.dtype)
            z_q = z_q + contrib
            # Euclidean RVQ (EnCodec): the next stage quantises what this one left, and the
            # encoder's gradient flows once per stage through the straight-through estimator
            residual = residual - (contrib.detach() if not cb.spherical else contrib)
            codes.append(idx)
        return z_q, torch.stack(codes, 1), commit

    @torch.no_grad()
    def encode(self, z: torch.Tensor, n_q: int) -> torch.Tensor:
        """``z [B, D, T]`` -> codes ``[B, n_q, T]`` (int64)."""
        residual, codes = z, []
        for cb in self.codebooks[:n_q]:
            idx = cb.nearest(cb.project(residual))
            residual = residual - cb.lookup(idx)
            codes.append(idx)
        return torch.stack(codes, 1)

    @torch.no_grad()
    def codebook_vectors(self, n_q: int) -> torch.Tensor:
        """What each code of the first ``n_q`` codebooks adds to the latent: ``[n_q, K, D]``
        (a frame's quantised latent is the sum of its codes' rows)."""
        ids = torch.arange(self.cfg.codebook_size)[None]
        return torch.stack([cb.lookup(ids)[0].t() for cb in self.codebooks[:n_q]])

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """Codes ``[B, n_q, T]`` -> latent ``[B, D, T]`` (sum of the codebook contributions)."""
        out = None
        for i in range(codes.shape[1]):
            c = self.codebooks[i].lookup(codes[:, i])
            out = c if out is None else out + c
        return out
