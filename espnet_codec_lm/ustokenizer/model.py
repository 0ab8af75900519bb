"""The USTokenizer (DualSpeechLM, arXiv 2508.08961): speech -> one understanding-driven token per
40 ms, trained so that a frozen text LLM can read the transcript off the tokens.

    wav -> frozen front end (log-mel 100 Hz | Whisper encoder 50 Hz)
        -> strided convs (to 25 Hz) -> Transformer -> linear -> one VQ codebook (1,024 codes)
        -> decoder (Transformer -> frame-wise unfold back to the front-end rate): MSE to the
           frozen features                                             (reconstruction loss)
        -> adapter (linear to the LLM width) -> frozen text LLM reads
           [adapted quantised frames][transcript tokens]: cross-entropy on the transcript
           tokens only                                                        (text loss)

The quantiser is the codec's (``codec/quantizer.py``: EMA codebook, k-means initialisation,
dead-code replacement) with one codebook; the straight-through estimator carries the text and
reconstruction gradients through it to the encoder. The frozen parts (front end, text LLM) are
kept out of ``state_dict``: the saved model holds only what training changes.

Only the frames and tokens that exist are used: the quantiser sees the valid frames of a
batch as one sequence (padding never moves a code), the MSE averages over valid frames, and
each utterance's LLM input is its own frames followed by its own transcript.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from espnet_codec_lm.codec.model import CONFIG_KEY, config_digest, save_codec
from espnet_codec_lm.codec.quantizer import ResidualVQ
from espnet_codec_lm.config import config_from_dict, read_yaml
from espnet_codec_lm.lm.tokenizer import TokenizerError, load_text_tokenizer
from espnet_codec_lm.ustokenizer.config import FrontEndConfig, TextLLMConfig, USTokenizerModelConfig

#: frames per second of the tokens (the paper's 25 Hz)
TOKEN_RATE = 25.0
_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


class USTokenizerError(ValueError):
    """Unusable USTokenizer input or files; the message is one line naming the file."""


class LogMelFrontEnd:
    """Whisper's input features, computed here (no weights): 25 ms windows every 10 ms, Slaney
    mel filters, log10 with 8 decades of dynamic range, scaled by ``(x + 4) / 4`` (values of
    about -1..1.5, a scale the MSE weight of the paper was tuned on)."""

    frame_rate = 100.0

    def __init__(self, cfg: FrontEndConfig, sample_rate: int) -> None:
        import librosa

        self.dim = cfg.n_mels
        self.hop = sample_rate // 100
        self.n_fft = sample_rate // 40
        fb = librosa.filters.mel(sr=sample_rate, n_fft=self.n_fft, n_mels=cfg.n_mels)  # Slaney
        self.fb = torch.from_numpy(fb).float()
        self.window = torch.hann_window(self.n_fft)

    @torch.no_grad()
    def __call__(self, wavs: list[torch.Tensor], frames: list[int]) -> torch.Tensor:
        """``wavs`` (1-D, float32) -> features ``[B, max(frames), n_mels]`` (zero-padded)."""
        out = torch.zeros(len(wavs), max(frames), self.dim)
        for i, (w, n) in enumerate(zip(wavs, frames)):
            spec = torch.stft(
                w.float(), self.n_fft, self.hop, window=self.window, return_complex=True
            )
            m = (self.fb @ spec.abs().pow(2))[:, :n].clamp(min=1e-10).log10()
            m = torch.maximum(m, m.max() - 8.0)
            out[i, : m.shape[1]] = ((m + 4.0) / 4.0).t()
        return out


class WhisperFrontEnd:
    """The encoder of a local Hugging Face Whisper checkpoint (frozen, eval mode): 50 Hz.
    Audio is encoded in 30 s windows (Whisper's fixed input) and the frames of the padding
    dropped."""

    frame_rate = 50.0
    window_s = 30

    def __init__(self, cfg: FrontEndConfig, sample_rate: int) -> None:
        from transformers import WhisperFeatureExtractor, WhisperModel

        path = Path(cfg.path)
        if not (path / "config.json").is_file():
            raise USTokenizerError(f"{path}: no Whisper checkpoint (frontend.path)")
        try:
            self.features = WhisperFeatureExtractor.from_pretrained(str(path))
            model = WhisperModel.from_pretrained(str(path), dtype=_DTYPES[cfg.dtype])
        except (OSError, ValueError) as e:
            why = (str(e).splitlines() or [type(e).__name__])[0]
            raise USTokenizerError(f"{path}: cannot load Whisper: {why}") from None
        self.encoder = model.get_encoder().eval().requires_grad_(False)
        self.dim = model.config.d_model
        self.sample_rate = sample_rate
        self.hop = sample_rate // 50

    @torch.no_grad()
    def __call__(self, wavs: list[torch.Tensor], frames: list[int]) -> torch.Tensor:
        out = torch.zeros(len(wavs), max(frames), self.dim)
        win = self.window_s * self.sample_rate
        for i, (w, n) in enumerate(zip(wavs, frames)):
            chunks = [w[s : s + win].numpy() for s in range(0, len(w), win)]
            feats = self.features(
                chunks, sampling_rate=self.sample_rate, return_tensors="pt"
            ).input_features
            dev = next(self.encoder.parameters())
            hidden = self.encoder(feats.to(dev.device, dev.dtype)).last_hidden_state
            per_win = win // self.hop
            h = hidden[:, :per_win].reshape(-1, self.dim)[:n]
            out[i, : h.shape[0]] = h.float().cpu()
        return out


def build_frontend(cfg: FrontEndConfig, sample_rate: int) -> LogMelFrontEnd | WhisperFrontEnd:
    """The frozen front end a config names."""
    return (LogMelFrontEnd if cfg.kind == "logmel" else WhisperFrontEnd)(cfg, sample_rate)


def frontend_rate(cfg: FrontEndConfig) -> float:
    """Frames per second of a front end (without loading it)."""
    return LogMelFrontEnd.frame_rate if cfg.kind == "logmel" else WhisperFrontEnd.frame_rate


class StridedConv(nn.Module):
    """Divides the frame rate by ``stride`` exactly (kernel ``2 * stride``, padded so that
    ``T`` frames become ``T / stride``)."""

    def __init__(self, dim_in: int, dim_out: int, stride: int) -> None:
        super().__init__()
        self.stride = stride
        self.conv = nn.Conv1d(dim_in, dim_out, 2 * stride, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # [B, C, T] -> [B, C', T / s]
        s = self.stride
        return F.gelu(self.conv(F.pad(x, (s // 2, s - s // 2))))


def _transformer(dim: int, layers: int, heads: int, ff_mult: int, dropout: float) -> nn.Module:
    layer = nn.TransformerEncoderLayer(
        dim, heads, dim * ff_mult, dropout, activation="gelu", batch_first=True, norm_first=True
    )
    return nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)


class USTokenizer(nn.Module):
    """Trainable encoder, codebook, decoder and adapter; the frozen front end is attached on
    construction, the frozen text LLM by :meth:`attach_text_llm` (training only)."""

    def __init__(self, cfg: USTokenizerModelConfig, adapter_dim: int, frontend=None) -> None:
        super().__init__()
        self.cfg = cfg
        e = cfg.encoder
        rate = frontend_rate(cfg.frontend)
        self.stride = math.prod(e.strides)
        self.frame_rate = rate / self.stride
        self.hop = round(cfg.sample_rate / self.frame_rate)  # samples per token
        if abs(self.hop * self.frame_rate - cfg.sample_rate) > 1e-6:
            raise USTokenizerError(f"encoder.strides {e.strides}: no whole number of samples")
        # frozen parts live outside the module tree: not in state_dict, never optimised
        object.__setattr__(
            self, "frontend", frontend or build_frontend(cfg.frontend, cfg.sample_rate)
        )
        object.__setattr__(self, "llm", None)
        object.__setattr__(self, "text_tokenizer", None)
        feat_dim = self.frontend.dim
        dims = [feat_dim] + [e.dim] * len(e.strides)
        self.down = nn.Sequential(
            *[StridedConv(a, b, s) for a, b, s in zip(dims, dims[1:], e.strides)]
        )
        self.pos = nn.Conv1d(e.dim, e.dim, 7, padding=3, groups=e.dim)  # relative position
        self.encoder = _transformer(e.dim, e.layers, e.heads, e.ff_mult, e.dropout)
        self.to_latent = nn.Linear(e.dim, cfg.latent_dim)
        self.quantizer = ResidualVQ(cfg.latent_dim, cfg.quantizer, self.frame_rate)
        self.from_latent = nn.Linear(cfg.latent_dim, e.dim)
        self.decoder = _transformer(e.dim, cfg.decoder_layers, e.heads, e.ff_mult, e.dropout)
        self.unfold = nn.Linear(e.dim, self.stride * feat_dim)  # one token -> ``stride`` frames
        self.adapter = nn.Linear(cfg.latent_dim, adapter_dim)

    @property
    def codebook_size(self) -> int:
        """Number of distinct tokens."""
        return self.cfg.quantizer.codebook_size

    # --- frozen parts ------------------------------------------------------------------------
    def attach_text_llm(self, llm: nn.Module, tokenizer) -> None:
        """Use ``llm`` (frozen here: eval mode, no gradients) and its text tokenizer for the text
        loss; its hidden size must be the adapter's."""
        width = llm.get_input_embeddings().weight.shape[1]
        if width != self.adapter.out_features:
            raise USTokenizerError(
                f"text LLM width {width} != adapter width {self.adapter.out_features}"
            )
        object.__setattr__(self, "llm", llm.eval().requires_grad_(False))
        object.__setattr__(self, "text_tokenizer", tokenizer)

    def features(self, wavs: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Frozen features ``[B, T * stride, F]`` of the audio padded to whole tokens, and the
        tokens per utterance ``[B]`` (``ceil(samples / hop)``)."""
        tokens = [max(1, -(-len(w) // self.hop)) for w in wavs]
        padded = [F.pad(w, (0, t * self.hop - len(w))) for w, t in zip(wavs, tokens)]
        feats = self.frontend(padded, [t * self.stride for t in tokens])
        return feats, torch.tensor(tokens)

    # --- the model ---------------------------------------------------------------------------
    def encode_latent(self, feats: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """Features ``[B, T * stride, F]`` -> latent frames ``[B, T, latent_dim]``."""
        x = self.down(feats.transpose(1, 2))
        x = (x + self.pos(x)).transpose(1, 2)
        pad = torch.arange(x.shape[1])[None] >= tokens[:, None]
        return self.to_latent(self.encoder(x, src_key_padding_mask=pad))

    def quantize(
        self, z: torch.Tensor, tokens: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Quantise the valid frames of ``z [B, T, D]`` as one sequence (EMA updates in
        training see no padding): ``(z_q [B, T, D] straight-through, codes [B, T] with -1 on
        padding, commitment loss)``."""
        valid = torch.arange(z.shape[1])[None] < tokens[:, None]
        flat = z[valid].t()[None]  # [1, D, N]
        zq_flat, codes_flat, commit = self.quantizer(flat, 1)
        z_q = torch.zeros_like(z).masked_scatter(valid[..., None], zq_flat[0].t())
        codes = torch.full(valid.shape, -1, dtype=torch.long)
        codes[valid] = codes_flat[0, 0]
        return z_q, codes, commit

    def decode(self, z_q: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """Quantised frames ``[B, T, D]`` -> reconstructed features ``[B, T * stride, F]``."""
        pad = torch.arange(z_q.shape[1])[None] >= tokens[:, None]
        h = self.decoder(self.from_latent(z_q), src_key_padding_mask=pad)
        b, t, _ = h.shape
        return self.unfold(h).reshape(b, t * self.stride, -1)

    def text_loss(
        self, z_q: torch.Tensor, tokens: torch.Tensor, texts: list[list[int]]
    ) -> torch.Tensor:
        """Mean cross-entropy of the frozen LLM on the transcript tokens ``texts`` (ids; one
        list per utterance), each read after its utterance's adapted quantised frames.

        Row ``i`` is ``[adapter(z_q[i, :T_i])][embed(texts[i])]``, right-padded (masked); the
        logits at position ``p`` predict the token at ``p + 1``, so transcript token ``j`` is
        scored from position ``T_i + j - 1`` (the first from the last speech frame). Speech
        positions and padding carry no loss."""
        if self.llm is None:
            raise USTokenizerError("no text LLM attached (attach_text_llm)")
        embed = self.llm.get_input_embeddings()
        dtype = embed.weight.dtype
        speech = self.adapter(z_q).to(dtype)
        rows, labels = [], []
        for i, ids in enumerate(texts):
            t = int(tokens[i])
            ids_t = torch.tensor(ids, dtype=torch.long)
            rows.append(torch.cat([speech[i, :t], embed(ids_t)]))
            labels.append(torch.cat([torch.full((t,), -100), ids_t]))
        length = max(len(r) for r in rows)
        x = torch.stack([F.pad(r, (0, 0, 0, length - len(r))) for r in rows])
        y = torch.stack([F.pad(lab, (0, length - len(lab)), value=-100) for lab in labels])
        mask = torch.stack([torch.arange(length) < len(r) for r in rows]).long()
        logits = self.llm(inputs_embeds=x, attention_mask=mask).logits.float()
        return F.cross_entropy(
            logits[:, :-1].reshape(-1, logits.shape[-1]), y[:, 1:].reshape(-1), ignore_index=-100
        )

    def forward(
        self, wavs: list[torch.Tensor], texts: list[list[int]] | None = None
    ) -> dict[str, torch.Tensor]:
        """The losses of a batch (``text`` only with transcripts and an attached LLM) and the
        codes ``[B, T]`` (-1 on padding)."""
        feats, tokens = self.features(wavs)
        z = self.encode_latent(feats, tokens)
        z_q, codes, commit = self.quantize(z, tokens)
        hat = self.decode(z_q, tokens)
        valid = (torch.arange(feats.shape[1])[None] < (tokens * self.stride)[:, None]).float()
        err = (hat - feats).pow(2).mean(-1)
        out = {"codes": codes, "commit": commit, "recon": (err * valid).sum() / valid.sum()}
        if texts is not None and self.llm is not None:
            out["text"] = self.text_loss(z_q, tokens, texts)
        return out

    @torch.no_grad()
    def encode(self, wav: torch.Tensor | np.ndarray) -> torch.Tensor:
        """Mono audio ``[N]`` at ``cfg.sample_rate`` -> tokens ``[ceil(N / hop)]`` (int64, in
        ``[0, codebook_size)``); no codebook update."""
        wav = torch.as_tensor(wav, dtype=torch.float32)
        if wav.ndim != 1 or wav.numel() == 0:
            raise USTokenizerError(f"expected non-empty 1-D audio, got shape {tuple(wav.shape)}")
        was = self.training
        self.eval()
        feats, tokens = self.features([wav])
        z = self.encode_latent(feats, tokens)
        codes = self.quantizer.encode(z.transpose(1, 2), 1)[0, 0]
        self.train(was)
        return codes


def load_text_llm(cfg: TextLLMConfig):
    """The frozen text LLM (``AutoModelForCausalLM`` from a local directory) and its tokenizer
    (the toolkit's loader: a Hugging Face tokenizer, the toolkit's BPE directory or a
    sentencepiece ``.model``; the mini recipe's text LLM carries the toolkit's BPE)."""
    from transformers import AutoModelForCausalLM

    path = Path(cfg.path)
    if not cfg.path or not (path / "config.json").is_file():
        raise USTokenizerError(f"{path}: no Hugging Face causal LM here (model.text_llm.path)")
    try:
        llm = AutoModelForCausalLM.from_pretrained(
            str(path), dtype=_DTYPES[cfg.dtype], local_files_only=True
        )
        tokenizer = load_text_tokenizer(cfg.tokenizer or path)
    except (OSError, ValueError, TokenizerError) as e:
        why = (str(e).splitlines() or [type(e).__name__])[0]
        raise USTokenizerError(f"{path}: cannot load the text LLM: {why}") from None
    return llm.eval().requires_grad_(False), tokenizer


def transcript_ids(tokenizer, llm: nn.Module, text: str, append_eos: bool) -> list[int]:
    """A transcript's token ids for the text loss (+ the LLM's end-of-text id when its config
    names one and ``append_eos``)."""
    ids = list(tokenizer.encode(text))
    eos = getattr(llm.config, "eos_token_id", None)
    if isinstance(eos, list):
        eos = eos[0] if eos else None
    if append_eos and isinstance(eos, int):
        ids.append(eos)
    return ids


def save_ustokenizer(model: USTokenizer, directory: str | Path, extra: dict | None = None) -> None:
    """``config.yaml`` + ``model.safetensors`` (trainable weights and codebook only), written as
    one directory swap with the config's digest in the weights (the codec's format)."""
    save_codec(model, directory, extra)


def load_ustokenizer(directory: str | Path) -> USTokenizer:
    """An eval-mode USTokenizer from a directory of :func:`save_ustokenizer` (no text LLM)."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    directory = Path(directory)
    weights, conf = directory / "model.safetensors", directory / "config.yaml"
    if not weights.is_file():
        raise FileNotFoundError(f"{weights}: no USTokenizer weights")
    data = read_yaml(conf)
    cfg = config_from_dict(USTokenizerModelConfig, data, str(conf))
    try:
        state = load_file(str(weights))
        with safe_open(str(weights), "pt") as f:
            saved = (f.metadata() or {}).get(CONFIG_KEY)
    except Exception as e:  # safetensors raises its own error types on corrupt files
        raise USTokenizerError(f"{weights}: unreadable weights: {e}") from None
    if saved != config_digest(data):
        raise USTokenizerError(f"{weights}: saved with another config than {conf}")
    model = USTokenizer(cfg, adapter_dim=state["adapter.weight"].shape[0])
    model.load_state_dict(state)
    return model.eval()
