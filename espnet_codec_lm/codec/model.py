"""SoundStream-style codec: encoder -> residual VQ (quantiser dropout) -> decoder.

``SoundStreamCodec`` is both the trainable generator (``forward``) and an :class:`AbsCodec`
(``encode`` / ``decode``). A codec directory holds ``config.yaml`` (a :class:`CodecModelConfig`,
or a full training config whose ``model`` section is used) and ``model.safetensors``;
:func:`load_codec` rebuilds it without unpickling anything.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from espnet_codec_lm.codec.abs_codec import AbsCodec, check_waveform
from espnet_codec_lm.codec.config import CodecModelConfig
from espnet_codec_lm.codec.modules import build_decoder, build_encoder
from espnet_codec_lm.codec.quantizer import ResidualVQ
from espnet_codec_lm.config import config_from_dict, dump_config, read_yaml
from espnet_codec_lm.utils.fileio import atomic_path, atomic_write_text, staged_dir


class SoundStreamCodec(nn.Module, AbsCodec):
    """The generator of :mod:`espnet_codec_lm.codec`; see the module docstring."""

    def __init__(self, cfg: CodecModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.encoder = build_encoder(cfg.encoder, cfg.hop_length, cfg.latent_dim)
        self.quantizer = ResidualVQ(cfg.latent_dim, cfg.quantizer, cfg.sample_rate / cfg.hop_length)
        self.decoder = build_decoder(cfg.decoder, cfg.hop_length, cfg.latent_dim)

    # --- AbsCodec properties -----------------------------------------------------------------
    @property
    def sample_rate(self) -> int:
        return self.cfg.sample_rate

    @property
    def hop_length(self) -> int:
        return self.cfg.hop_length

    @property
    def num_codebooks(self) -> int:
        return self.cfg.quantizer.num_codebooks

    @property
    def codebook_size(self) -> int:
        return self.cfg.quantizer.codebook_size

    # --- training ----------------------------------------------------------------------------
    def pad_to_hop(self, wav: torch.Tensor) -> torch.Tensor:
        """Zero-pad ``[B, N]`` on the right to a whole number of frames (at least one)."""
        n = wav.shape[-1]
        frames = max(1, -(-n // self.hop_length))
        return F.pad(wav, (0, frames * self.hop_length - n))

    def forward(
        self, wav: torch.Tensor, n_q: torch.Tensor | int | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Resynthesise ``wav [B, N]`` (N a multiple of hop) through ``n_q`` codebooks (an int,
        one per segment, or None = quantiser dropout in training / all codebooks in eval).

        Returns ``(wav_hat [B, N], codes [B, n_q, T], commitment loss)``.
        """
        if n_q is None:
            n_q = self.quantizer.draw_n_q(wav.shape[0]) if self.training else self.num_codebooks
        z = self.encoder(wav)
        z_q, codes, commit = self.quantizer(z, n_q)
        wav_hat = self.decoder(z_q)
        return wav_hat[..., : wav.shape[-1]], codes, commit

    # --- AbsCodec ----------------------------------------------------------------------------
    @torch.no_grad()
    def encode(
        self, wav: torch.Tensor, n_q: int | None = None, sample_rate: int | None = None
    ) -> torch.Tensor:
        """``[N]`` / ``[B, N]`` audio -> ``[n_q, T]`` / ``[B, n_q, T]`` codes (int64).

        Audio is checked (:func:`check_waveform`); shorter than one frame is zero-padded.
        """
        n_q = self.num_codebooks if n_q is None else n_q
        if not 1 <= n_q <= self.num_codebooks:
            raise ValueError(f"n_q={n_q} outside 1..{self.num_codebooks}")
        wav = check_waveform(wav, sample_rate or self.sample_rate, self.sample_rate)
        single = wav.ndim == 1
        x = self.pad_to_hop(wav[None] if single else wav).float()
        codes = self.quantizer.encode(self.encoder(x), n_q)
        return codes[0] if single else codes

    @torch.no_grad()
    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """``[n_q, T]`` / ``[B, n_q, T]`` codes -> ``[T * hop]`` / ``[B, T * hop]`` audio."""
        single = codes.ndim == 2
        c = (codes[None] if single else codes).long()
        if c.shape[1] > self.num_codebooks or c.shape[1] < 1:
            raise ValueError(
                f"codes have {c.shape[1]} codebooks, the codec has {self.num_codebooks}"
            )
        if c.numel() and (int(c.min()) < 0 or int(c.max()) >= self.codebook_size):
            raise ValueError(f"codes outside [0, {self.codebook_size})")
        wav = self.decoder(self.quantizer.decode(c))
        return wav[0] if single else wav


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """``auto`` -> ``cuda:<local_rank>`` when CUDA is available, else ``cpu``; ``cuda``
    without CUDA is a ValueError."""
    if name == "cpu" or (name == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise ValueError("device=cuda but CUDA is not available (use device=auto or cpu)")
    return torch.device("cuda", local_rank)


def codec_model_config_from_yaml(path: str | Path) -> CodecModelConfig:
    """Read a codec ``config.yaml``: a model config, or a training config (its ``model``)."""
    data = read_yaml(path)
    if "model" in data and isinstance(data["model"], dict):
        data = data["model"]
    return config_from_dict(CodecModelConfig, data, str(path))


def load_codec(codec_dir: str | Path, device: str = "cpu") -> SoundStreamCodec:
    """Load ``codec_dir/{config.yaml, model.safetensors}`` into an eval-mode codec."""
    from safetensors.torch import load_file

    codec_dir = Path(codec_dir)
    weights = codec_dir / "model.safetensors"
    if not weights.is_file():
        raise FileNotFoundError(f"{weights}: no codec weights")
    from safetensors import safe_open

    model = SoundStreamCodec(codec_model_config_from_yaml(codec_dir / "config.yaml"))
    data = read_yaml(codec_dir / "config.yaml")
    try:
        state = load_file(str(weights), device=device)
        with safe_open(str(weights), "pt") as f:
            saved = (f.metadata() or {}).get(CONFIG_KEY)
    except Exception as e:  # safetensors raises its own error types on corrupt files
        raise ValueError(f"{weights}: unreadable weights: {e}") from None
    if saved is not None and saved != config_digest(data):  # older codecs have no digest
        raise ValueError(
            f"{weights}: saved with another config than {codec_dir / 'config.yaml'} "
            "(a torn or mixed copy?)"
        )
    missing, unexpected = model.load_state_dict(state, strict=False)
    # a shipped codec may omit the EMA sums (training-only); rebuild them from the codes
    missing = [k for k in missing if not k.endswith(TRAINING_ONLY)]
    if missing or unexpected:
        raise ValueError(
            f"{weights}: weights do not match config.yaml "
            f"(missing {missing[:3]}, unexpected {unexpected[:3]})"
        )
    for cb in model.quantizer.codebooks:
        if not any(
            k.startswith("quantizer.codebooks.") and k.endswith(TRAINING_ONLY) for k in state
        ):
            scale = 1.0 if cb.spherical else cb.cluster_size[:, None]
            cb.embed_sum.copy_(cb.embed * scale)
    return model.to(device).eval()


#: state-dict entries only training needs (left out of a shipped codec to keep it small)
TRAINING_ONLY = (".embed_sum",)
#: safetensors metadata key: :func:`config_digest` of the config the weights were saved with
CONFIG_KEY = "codec_config_sha256"


def export_weights(src: str | Path, dest: str | Path, half: bool = True) -> None:
    """Copy ``model.safetensors`` without training-only entries, floats in fp16 when ``half``
    (halves the file; :func:`load_codec` loads it back into float32)."""
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    state = load_file(str(src))
    with safe_open(str(src), "pt") as f:
        metadata = f.metadata()  # the config digest travels with the weights
    if not any(k.endswith(TRAINING_ONLY) for k in state) and not any(
        v.dtype == torch.float32 for v in state.values()
    ):
        if Path(src).resolve() != Path(dest).resolve():  # already exported: copy the bytes
            import shutil

            with atomic_path(dest) as tmp:
                shutil.copyfile(src, tmp)
        return
    out = {}
    for k, v in state.items():
        if k.endswith(TRAINING_ONLY):
            continue
        out[k] = v.half() if half and v.is_floating_point() else v
    with atomic_path(dest) as tmp:
        save_file(out, str(tmp), metadata=metadata)


def config_digest(data: dict) -> str:
    """sha256 of a codec ``config.yaml``'s content (canonical JSON of the mapping, so comments
    and key order do not count, and fields added to the dataclass later do not change it):
    stored in the weights' metadata, so weights are never loaded with another config than the
    one they were saved with."""
    import hashlib
    import json

    blob = json.dumps(data, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def save_codec(
    model: nn.Module, codec_dir: str | Path, extra: dict[str, str] | None = None
) -> None:
    """Write ``config.yaml`` + ``model.safetensors`` (+ ``extra`` text files) for
    :func:`load_codec` as one directory swap: a reader sees the old pair or the new pair.
    ``model`` is any module with a ``cfg`` dataclass (the codec; the USTokenizer saves its
    directory through here too)."""
    from safetensors.torch import save_file

    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    with staged_dir(codec_dir) as new:
        dump_config(model.cfg, new / "config.yaml")
        digest = config_digest(read_yaml(new / "config.yaml"))
        with atomic_path(new / "model.safetensors") as tmp:  # atomic_path: the umask's mode
            save_file(state, str(tmp), metadata={CONFIG_KEY: digest})
        for name, text in (extra or {}).items():
            atomic_write_text(new / name, text)
