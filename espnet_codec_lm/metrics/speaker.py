"""SPK-SIM: cosine similarity of speaker embeddings from an ESPnet-SPK model (RawNet3 in the paper).

The checkpoint is what ESPnet-SPK publishes and what its recipe writes (e.g. the Hugging Face
repo ``espnet/voxcelebs12_rawnet3``): a ``config.yaml`` naming ``frontend`` / ``normalize`` /
``encoder`` / ``pooling`` / ``projector`` with their ``*_conf``, and a ``*.pth`` state dict.
``espnet2.tasks.spk`` cannot be imported here (it pulls ``torch_complex`` and other frontends),
so the model is assembled from the individual ``espnet2.spk`` classes, which import without
torchaudio; RawNet3's sinc frontend (``asteroid_frontend``) needs only the small
``asteroid-filterbanks`` package. Weights load with ``torch.load(weights_only=True)`` (or
safetensors). The whole utterance goes through the model, as ESPnet's ``Speech2Embedding`` does.
"""

from __future__ import annotations

import importlib
import logging
from pathlib import Path

import numpy as np
import yaml

from espnet_codec_lm.metrics.config import ModelUnavailable

log = logging.getLogger(__name__)

# ESPnet-SPK choice names -> "module:Class" (the ones that import without torchaudio here).
_CHOICES = {
    "frontend": {
        "asteroid_frontend": "espnet2.asr.frontend.asteroid_frontend:AsteroidFrontend",
    },
    "normalize": {"utterance_mvn": "espnet2.layers.utterance_mvn:UtteranceMVN"},
    "encoder": {
        "rawnet3": "espnet2.spk.encoder.rawnet3_encoder:RawNet3Encoder",
        "ecapa_tdnn": "espnet2.spk.encoder.ecapa_tdnn_encoder:EcapaTdnnEncoder",
        "xvector": "espnet2.spk.encoder.xvector_encoder:XvectorEncoder",
    },
    "pooling": {
        "chn_attn_stat": "espnet2.spk.pooling.chn_attn_stat_pooling:ChnAttnStatPooling",
        "stats": "espnet2.spk.pooling.stat_pooling:StatsPooling",
        "mean": "espnet2.spk.pooling.mean_pooling:MeanPooling",
    },
    "projector": {
        "rawnet3": "espnet2.spk.projector.rawnet3_projector:RawNet3Projector",
        "xvector": "espnet2.spk.projector.xvector_projector:XvectorProjector",
    },
}
# Below this many samples RawNet3's pooling stack has no frame left; shorter audio is tiled.
MIN_SAMPLES = 8000


def _class(kind: str, name: str):
    spec = _CHOICES[kind].get(name)
    if spec is None:
        raise ValueError(f"unsupported {kind} '{name}' (supported: {sorted(_CHOICES[kind])})")
    mod, cls = spec.split(":")
    return getattr(importlib.import_module(mod), cls)


def build_speaker_model(conf: dict):
    """Assemble an ``ESPnetSpeakerModel`` (without its training loss) from an ESPnet config."""
    from espnet2.spk.espnet_model import ESPnetSpeakerModel

    frontend = None
    if conf.get("frontend"):
        frontend = _class("frontend", conf["frontend"])(**(conf.get("frontend_conf") or {}))
        input_size = frontend.output_size()
    else:
        input_size = conf.get("input_size") or 1  # raw waveform encoders take 1 channel
    normalize = None
    if conf.get("normalize"):
        normalize = _class("normalize", conf["normalize"])(**(conf.get("normalize_conf") or {}))
    encoder = _class("encoder", conf.get("encoder", "rawnet3"))(
        input_size=input_size, **(conf.get("encoder_conf") or {})
    )
    pooling = _class("pooling", conf.get("pooling", "chn_attn_stat"))(
        input_size=encoder.output_size(), **(conf.get("pooling_conf") or {})
    )
    projector = _class("projector", conf.get("projector", "rawnet3"))(
        input_size=pooling.output_size(), **(conf.get("projector_conf") or {})
    )
    return ESPnetSpeakerModel(
        frontend=frontend,
        specaug=None,
        normalize=normalize,
        encoder=encoder,
        pooling=pooling,
        projector=projector,
        loss=None,
    )


def _find_files(path: Path) -> tuple[Path, Path]:
    """(config.yaml, weights) for a model directory or a weights file."""
    if path.is_file():
        config = path.parent / "config.yaml"
        if not config.is_file():
            raise ModelUnavailable(f"no config.yaml beside speaker model {path}")
        return config, path
    meta = path / "meta.yaml"
    if meta.is_file():  # ESPnet's packed / Hugging Face layout (espnet2.bin.pack spk)
        m = yaml.safe_load(meta.read_text(encoding="utf-8")) or {}
        yf, ff = m.get("yaml_files") or {}, m.get("files") or {}
        cfg = yf.get("train_config") or yf.get("spk_train_config")
        ckpt = ff.get("model_file") or ff.get("spk_model_file")
        if cfg and ckpt:
            if not (path / cfg).is_file() or not (path / ckpt).is_file():
                raise ModelUnavailable(f"{meta}: names {cfg} and {ckpt}, not both present")
            return path / cfg, path / ckpt
    configs = sorted(path.rglob("config.yaml"))
    weights = sorted([*path.rglob("*.pth"), *path.rglob("*.safetensors")])
    if len(configs) != 1 or len(weights) != 1:
        raise ModelUnavailable(
            f"speaker model dir {path} must hold one config.yaml and one *.pth/*.safetensors "
            f"(found {len(configs)} and {len(weights)}); point speaker.path at the weights file"
        )
    return configs[0], weights[0]


def load_state_dict(path: Path) -> dict:
    """Tensors only: safetensors, or ``torch.load(weights_only=True)``."""
    import pickle

    from safetensors import SafetensorError

    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path))
        import torch

        sd = torch.load(str(path), map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, SafetensorError, RuntimeError, EOFError) as e:
        # a pickle with code in it (refused, never run) or a torn file: one line, no traceback
        lines = [ln for ln in str(e).splitlines() if "WeightsUnpickler error:" in ln]
        why = lines[0].split("error:", 1)[1] if lines else (str(e).splitlines() or [""])[0]
        why = why.split(". Please")[0].strip() or type(e).__name__
        raise ValueError(f"{path}: cannot load model weights ({why})") from None
    if isinstance(sd, dict) and "model" in sd and isinstance(sd["model"], dict):
        sd = sd["model"]
    return sd


class SpeakerEmbedder:
    """Speaker embeddings from an ESPnet-SPK checkpoint; ``similarity(a, b)`` is SPK-SIM."""

    sample_rate = 16000

    def __init__(self, path: str | Path, device: str = "cpu") -> None:
        import torch

        self.path = Path(path)
        config, weights = _find_files(self.path)
        conf = yaml.safe_load(config.read_text(encoding="utf-8")) or {}
        self.model = build_speaker_model(conf)
        sd = {k: v for k, v in load_state_dict(weights).items() if not k.startswith("loss.")}
        missing, unexpected = self.model.load_state_dict(sd, strict=False)
        if missing or unexpected:
            raise ValueError(
                f"{weights}: does not match {config} (missing {missing[:3]}, "
                f"unexpected {unexpected[:3]})"
            )
        self.model.to(device).eval()
        self.device = device
        self._torch = torch
        log.info("speaker model %s (%s)", weights, conf.get("encoder", "rawnet3"))

    def embed(self, wav: np.ndarray) -> np.ndarray:
        """Embedding of one 16 kHz float waveform."""
        if len(wav) == 0:
            raise ValueError("empty waveform")
        if len(wav) < MIN_SAMPLES:
            wav = np.tile(wav, int(np.ceil(MIN_SAMPLES / len(wav))))[:MIN_SAMPLES]
        torch = self._torch
        x = torch.from_numpy(np.ascontiguousarray(wav, dtype=np.float32))[None].to(self.device)
        with torch.inference_mode():
            emb = self.model(x, None, extract_embd=True)
        return emb[0].float().cpu().numpy()

    @staticmethod
    def similarity(a: np.ndarray, b: np.ndarray) -> float:
        """Cosine similarity of two embeddings."""
        denom = float(np.linalg.norm(a) * np.linalg.norm(b))
        return float(np.dot(a, b) / denom) if denom > 0 else 0.0


def load_speaker_model(path: str | None, device: str = "cpu") -> SpeakerEmbedder:
    """The configured speaker model, or :class:`ModelUnavailable` saying why not."""
    if not path:
        raise ModelUnavailable("no speaker-embedding model configured (speaker.path)")
    if not Path(path).exists():
        raise ModelUnavailable(f"speaker model not found: {path}")
    return SpeakerEmbedder(path, device)
