"""UTMOS (UTMOS22 "strong learner", Saeki et al. 2022) from a local checkpoint.

The released UTMOS22 checkpoint (``epoch=3-step=7459.ckpt``) is a PyTorch Lightning pickle that
needs fairseq and a separate ``wav2vec_small.pt``; it cannot be loaded without unpickling
arbitrary objects. Its weights were re-published by the SpeechMOS project as a plain state dict,
``utmos22_strong_step7459_v1.pt`` (``torch.hub`` entry ``tarepan/SpeechMOS:v1.2.0``,
``utmos22_strong``; MIT, derived from the official checkpoint). That file is the format read here,
with ``torch.load(weights_only=True)`` (a ``.safetensors`` copy of the same keys also works).

Architecture (inference path of the strong learner, without its phoneme encoder): wav2vec 2.0
Base (fairseq layout: 7 conv layers with group norm on the first, 12 post-LN Transformer layers,
768 wide) -> concat a learned data-domain embedding and judge embedding (128 each) to every frame
-> BLSTM (512 per direction) -> Linear(1024, 2048) -> ReLU -> Linear(2048, 1); the utterance
score is ``2 * mean over frames + 3``. The wav2vec 2.0 part is ``transformers``'
``Wav2Vec2Model`` (the same computation as fairseq's, keys renamed on load; see
doc/metrics.md for the check against the SpeechMOS implementation). Input: 16 kHz mono float,
not normalised (UTMOS22 used ``normalize: false``).

Sizes are read from the tensor shapes, so a smaller model of the same architecture (tests) loads
through the same path; the head count is not visible in shapes and is 12, as in wav2vec 2.0 Base.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import numpy as np
import torch
from torch import nn

from espnet_codec_lm.metrics.config import ModelUnavailable
from espnet_codec_lm.metrics.speaker import load_state_dict

log = logging.getLogger(__name__)

NUM_HEADS = 12
# wav2vec 2.0's feature encoder strides; the kernel sizes (10, 3, 3, 3, 3, 2, 2) come from shapes.
CONV_STRIDES = (5, 2, 2, 2, 2, 2, 2)
W2V = "wav2vec2."

# SpeechMOS / fairseq key -> transformers key, applied to keys under "wav2vec2."
_RENAMES = [
    (r"^feature_extractor\.conv_layers\.(\d+)\.0\.", r"feature_extractor.conv_layers.\1.conv."),
    (r"^feature_extractor\.conv_layers\.0\.2\.", r"feature_extractor.conv_layers.0.layer_norm."),
    (r"^layer_norm\.", r"feature_projection.layer_norm."),
    (r"^post_extract_proj\.", r"feature_projection.projection."),
    (
        r"^encoder\.pos_conv\.0\.weight_g$",
        r"encoder.pos_conv_embed.conv.parametrizations.weight.original0",
    ),
    (
        r"^encoder\.pos_conv\.0\.weight_v$",
        r"encoder.pos_conv_embed.conv.parametrizations.weight.original1",
    ),
    (r"^encoder\.pos_conv\.0\.bias$", r"encoder.pos_conv_embed.conv.bias"),
    (r"^encoder\.layers\.(\d+)\.self_attn\.", r"encoder.layers.\1.attention."),
    (r"^encoder\.layers\.(\d+)\.self_attn_layer_norm\.", r"encoder.layers.\1.layer_norm."),
    (r"^encoder\.layers\.(\d+)\.fc1\.", r"encoder.layers.\1.feed_forward.intermediate_dense."),
    (r"^encoder\.layers\.(\d+)\.fc2\.", r"encoder.layers.\1.feed_forward.output_dense."),
]
_INVERSE = [
    (r"^feature_extractor\.conv_layers\.(\d+)\.conv\.", r"feature_extractor.conv_layers.\1.0."),
    (r"^feature_extractor\.conv_layers\.0\.layer_norm\.", r"feature_extractor.conv_layers.0.2."),
    (r"^feature_projection\.layer_norm\.", r"layer_norm."),
    (r"^feature_projection\.projection\.", r"post_extract_proj."),
    (
        r"^encoder\.pos_conv_embed\.conv\.parametrizations\.weight\.original0$",
        r"encoder.pos_conv.0.weight_g",
    ),
    (
        r"^encoder\.pos_conv_embed\.conv\.parametrizations\.weight\.original1$",
        r"encoder.pos_conv.0.weight_v",
    ),
    (r"^encoder\.pos_conv_embed\.conv\.bias$", r"encoder.pos_conv.0.bias"),
    (r"^encoder\.layers\.(\d+)\.attention\.", r"encoder.layers.\1.self_attn."),
    (r"^encoder\.layers\.(\d+)\.layer_norm\.", r"encoder.layers.\1.self_attn_layer_norm."),
    (r"^encoder\.layers\.(\d+)\.feed_forward\.intermediate_dense\.", r"encoder.layers.\1.fc1."),
    (r"^encoder\.layers\.(\d+)\.feed_forward\.output_dense\.", r"encoder.layers.\1.fc2."),
]


def _rename(key: str, rules) -> str:
    for pat, rep in rules:
        new, n = re.subn(pat, rep, key)
        if n:
            return new
    return key


class UTMOS22Strong(nn.Module):
    """UTMOS22 strong learner (inference path); sizes default to the released model."""

    def __init__(
        self,
        conv_dim: int = 512,
        conv_kernels: tuple[int, ...] = (10, 3, 3, 3, 3, 2, 2),
        hidden: int = 768,
        num_layers: int = 12,
        ffn_dim: int = 3072,
        pos_conv_kernel: int = 128,
        pos_conv_groups: int = 16,
        domain_dim: int = 128,
        judge_dim: int = 128,
        rnn_hidden: int = 512,
        proj_hidden: int = 2048,
    ) -> None:
        super().__init__()
        from transformers import Wav2Vec2Config, Wav2Vec2Model

        self.arch = dict(
            conv_dim=conv_dim,
            conv_kernels=tuple(conv_kernels),
            hidden=hidden,
            num_layers=num_layers,
            ffn_dim=ffn_dim,
            pos_conv_kernel=pos_conv_kernel,
            pos_conv_groups=pos_conv_groups,
            domain_dim=domain_dim,
            judge_dim=judge_dim,
            rnn_hidden=rnn_hidden,
            proj_hidden=proj_hidden,
        )
        cfg = Wav2Vec2Config(
            hidden_size=hidden,
            num_hidden_layers=num_layers,
            num_attention_heads=NUM_HEADS,
            intermediate_size=ffn_dim,
            conv_dim=[conv_dim] * len(conv_kernels),
            conv_kernel=list(conv_kernels),
            conv_stride=list(CONV_STRIDES[: len(conv_kernels)]),
            conv_bias=False,
            feat_extract_norm="group",
            feat_extract_activation="gelu",
            hidden_act="gelu",
            num_conv_pos_embeddings=pos_conv_kernel,
            num_conv_pos_embedding_groups=pos_conv_groups,
            do_stable_layer_norm=False,
            apply_spec_augment=False,
            mask_time_prob=0.0,
            layerdrop=0.0,
        )
        self.wav2vec2 = Wav2Vec2Model(cfg)
        self.domain_emb = nn.Parameter(torch.zeros(1, domain_dim), requires_grad=False)
        self.judge_emb = nn.Parameter(torch.zeros(1, judge_dim), requires_grad=False)
        self.blstm = nn.LSTM(
            hidden + domain_dim + judge_dim, rnn_hidden, batch_first=True, bidirectional=True
        )
        self.projection = nn.Sequential(
            nn.Linear(2 * rnn_hidden, proj_hidden), nn.ReLU(), nn.Linear(proj_hidden, 1)
        )

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        """[B, T] 16 kHz waveform -> [B] predicted MOS."""
        units = self.wav2vec2(wave).last_hidden_state
        b, t, _ = units.shape
        cat = torch.cat(
            [units, self.domain_emb.expand(b, t, -1), self.judge_emb.expand(b, t, -1)], dim=2
        )
        frames = self.projection(self.blstm(cat)[0])
        return frames.mean(dim=1).squeeze(1) * 2 + 3

    # -- checkpoint format -------------------------------------------------------------------
    @staticmethod
    def arch_from_state_dict(sd: dict) -> dict:
        """Layer sizes of a SpeechMOS-format state dict (read from tensor shapes)."""
        try:
            kernels = []
            while f"{W2V}feature_extractor.conv_layers.{len(kernels)}.0.weight" in sd:
                kernels.append(
                    sd[f"{W2V}feature_extractor.conv_layers.{len(kernels)}.0.weight"].shape[2]
                )
            w0 = sd[f"{W2V}feature_extractor.conv_layers.0.0.weight"]
            proj = sd[f"{W2V}post_extract_proj.weight"]
            pos_v = sd[f"{W2V}encoder.pos_conv.0.weight_v"]
            n_layers = len({k.split(".")[3] for k in sd if k.startswith(f"{W2V}encoder.layers.")})
            return dict(
                conv_dim=w0.shape[0],
                conv_kernels=tuple(int(k) for k in kernels),
                hidden=proj.shape[0],
                num_layers=n_layers,
                ffn_dim=sd[f"{W2V}encoder.layers.0.fc1.weight"].shape[0],
                pos_conv_kernel=pos_v.shape[2],
                pos_conv_groups=proj.shape[0] // pos_v.shape[1],
                domain_dim=sd["domain_emb"].shape[1],
                judge_dim=sd["judge_emb"].shape[1],
                rnn_hidden=sd["blstm.weight_hh_l0"].shape[1],
                proj_hidden=sd["projection.0.weight"].shape[0],
            )
        except KeyError as e:
            raise ValueError(f"not a UTMOS22 strong (SpeechMOS) state dict: no key {e}") from None

    @classmethod
    def from_speechmos_state_dict(cls, sd: dict) -> UTMOS22Strong:
        """Build and load a model from SpeechMOS keys (``utmos22_strong_step7459_v1.pt``)."""
        model = cls(**cls.arch_from_state_dict(sd))
        converted = {}
        for k, v in sd.items():
            if k.startswith(W2V):
                if k == f"{W2V}mask_emb":  # only used for masked pre-training
                    continue
                k = W2V + _rename(k[len(W2V) :], _RENAMES)
            converted[k] = v
        missing, unexpected = model.load_state_dict(converted, strict=False)
        if missing or unexpected:
            raise ValueError(
                f"UTMOS state dict mismatch: missing {missing[:4]}, unexpected {unexpected[:4]}"
            )
        return model

    def to_speechmos_state_dict(self) -> dict:
        """This model's weights under SpeechMOS keys (what a released checkpoint holds)."""
        out = {}
        for k, v in self.state_dict().items():
            if k.startswith(W2V):
                k = W2V + _rename(k[len(W2V) :], _INVERSE)
            out[k] = v.detach().clone()
        out[f"{W2V}mask_emb"] = torch.zeros(self.arch["hidden"])
        return out


class MOSPredictor:
    """UTMOS on single utterances: ``predict(wav)`` for a 16 kHz float waveform."""

    sample_rate = 16000

    def __init__(self, path: str | Path, device: str = "cpu") -> None:
        self.path = Path(path)
        self.model = UTMOS22Strong.from_speechmos_state_dict(load_state_dict(self.path))
        self.model.to(device).eval()
        self.device = device
        log.info("UTMOS from %s (%s)", self.path, self.model.arch)

    def predict(self, wav: np.ndarray) -> float:
        """Predicted MOS (1-5 scale) of one waveform."""
        if len(wav) < 400:  # shorter than wav2vec 2.0's receptive field (25 ms): no frame
            raise ValueError(f"waveform too short for UTMOS ({len(wav)} samples)")
        x = torch.from_numpy(np.ascontiguousarray(wav, dtype=np.float32))[None].to(self.device)
        with torch.inference_mode():
            return float(self.model(x)[0])


def load_mos_model(path: str | None, device: str = "cpu") -> MOSPredictor:
    """The configured UTMOS, or :class:`ModelUnavailable` saying why not."""
    if not path:
        raise ModelUnavailable("no UTMOS checkpoint configured (mos.path)")
    if not Path(path).is_file():
        raise ModelUnavailable(f"UTMOS checkpoint not found: {path}")
    return MOSPredictor(path, device)
