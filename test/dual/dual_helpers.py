"""Helpers of the DualSpeechLM tests (a uniquely named module: pytest puts every test folder on
sys.path, so ``conftest`` or a plain ``helpers`` could be another area's)."""

from __future__ import annotations

import torch

from espnet_codec_lm.config import load_config
from espnet_codec_lm.dual.config import AcousticDecoderArch, DualConfig
from espnet_codec_lm.dual.model import DualSpeechLM
from espnet_codec_lm.lm.model import SpeechLM
from espnet_codec_lm.testing.synthetic import make_synthetic_corpus
from espnet_codec_lm.testing.tiny_models import tiny_qwen2_config
from espnet_codec_lm.train.build import build_trainer, link_final_model
from espnet_codec_lm.train.config import LMTrainConfig
from espnet_codec_lm.train.distributed import init_distributed, shutdown

UST_SIZE = 32  # USToken codebook of the tests
AC_STREAMS, AC_SIZE = 2, 16  # acoustic codebooks of the tests


def make_dual_corpus(root):
    """Same utterances twice (same seed: same ids, texts, speakers): one USToken stream of
    ``UST_SIZE`` codes, and ``AC_STREAMS`` acoustic codebooks of ``AC_SIZE`` (random codes)."""
    kw = dict(speakers_per_lang=2, utts_per_speaker=4, n_text=10, n_mt=10)
    ust = make_synthetic_corpus(root / "ust", num_streams=1, codebook_size=UST_SIZE, **kw)
    ac = make_synthetic_corpus(root / "ac", num_streams=AC_STREAMS, codebook_size=AC_SIZE, **kw)
    _learnable_codes(ac.root / "codes/train")
    return ust, ac


def _learnable_codes(cdir):
    """Replace the random acoustic codes by a pattern a tiny decoder learns in a few steps
    (frame t of stream k holds (t + 3k) mod AC_SIZE), keeping every utterance's length."""
    import kaldiio
    import numpy as np

    for name in ("codes", "codes_tgt"):
        arrays = dict(kaldiio.load_scp(str(cdir / f"{name}.scp")))
        spec = f"ark,scp:{cdir / name}.ark,{cdir / name}.scp"
        with kaldiio.WriteHelper(spec, write_function="numpy") as w:
            for key in sorted(arrays):
                t = np.arange(len(arrays[key]))[:, None] + 3 * np.arange(AC_STREAMS)[None]
                w(key, (t % AC_SIZE).astype(np.int16))


ARCH = AcousticDecoderArch(
    hidden_size=32, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
    intermediate_size=64,
)  # fmt: skip


def dual_cfg(**kw) -> DualConfig:
    return DualConfig(
        acoustic_streams=AC_STREAMS, acoustic_codebook_size=AC_SIZE, decoder=ARCH, **kw
    )


def tiny_dual(layout, seed=0, **kw) -> DualSpeechLM:
    torch.manual_seed(seed)
    config = tiny_qwen2_config(layout.size, hidden_size=24)
    return DualSpeechLM(SpeechLM(config, layout), dual_cfg(**kw))


def train(config, exp, *overrides):
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        cfg = load_config(LMTrainConfig, config, list(overrides))
        env = init_distributed(cfg.dist)
        try:
            trainer = build_trainer(cfg, exp, env)
            trainer.fit()
            link_final_model(exp, trainer.ckpt.latest())
        finally:
            shutdown(env)
    finally:
        torch.set_num_threads(before)
