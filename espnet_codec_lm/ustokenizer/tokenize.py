"""Data dir -> USTokens in kaldiio ark/scp: one code per 40 ms, ``[T, 1]`` int16 per utterance.

The same stage as ``codec/tokenize.py`` with another encoder: its shard writer, provenance
check and merge (``append_codes`` / ``write_codes``) are reused, so the files, the resume after a
crash, the refusal of other settings (``redo``) and ``<name>.num_frames`` behave identically.
``<name>.yaml`` records the USTokenizer's checksum (``config.yaml`` + ``model.safetensors``),
its codebook size and frame rate, and the checksum of the audio list.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from espnet_codec_lm.codec.tokenize import append_codes, codes_dtype, utterances_of, write_codes
from espnet_codec_lm.ustokenizer.model import USTokenizerError, load_ustokenizer
from espnet_codec_lm.utils.fileio import sha256_files


def encode_shard(
    model_dir: str,
    utts: list[tuple[str, str, float | None, float | None]],
    out_prefix: str,
    num_threads: int = 1,
) -> int:
    """Encode ``utts`` into ``out_prefix.{ark,scp}`` (appending; skipping what is done)."""
    import torch

    torch.set_num_threads(num_threads)

    def load():
        model = load_ustokenizer(model_dir)
        dtype = codes_dtype(model.codebook_size)

        def encode(wav: np.ndarray, utt: str) -> np.ndarray:
            try:
                return model.encode(wav).numpy()[:, None].astype(dtype)  # [T, 1]
            except USTokenizerError as e:
                raise USTokenizerError(f"utterance '{utt}': {e}") from None

        return encode, model.cfg.sample_rate

    return append_codes(utts, out_prefix, load)


def _shard_worker(args: tuple) -> int:
    return encode_shard(*args)


def ustokens_provenance(model_dir: str | Path, src: str | Path) -> dict:
    """What makes the tokens of ``src`` (a data dir or an audio list)."""
    model_dir, src = Path(model_dir), Path(src)
    model = load_ustokenizer(model_dir)
    inputs = [src / "wav.scp", src / "segments"] if src.is_dir() else [src]
    return {
        "ustokenizer": {
            "sha256": sha256_files(model_dir / "config.yaml", model_dir / "model.safetensors"),
            "path": str(model_dir.resolve()),
        },
        "n_q": 1,
        "codebook_size": model.codebook_size,
        "frame_rate": model.frame_rate,
        "sample_rate": model.cfg.sample_rate,
        "dtype": np.dtype(codes_dtype(model.codebook_size)).name,
        "data": {"sha256": sha256_files(*inputs), "path": str(src.resolve())},
    }


def tokenize(
    model_dir: str | Path,
    data: str | Path,
    out_dir: str | Path,
    nj: int = 1,
    name: str = "ustokens",
    scp_name: str = "wav.scp",
    redo: bool = False,
) -> Path:
    """Encode every utterance of ``data`` into ``out_dir/<name>.{ark,scp}`` (+ ``<name>.yaml``);
    return the scp path. Reruns with the same settings resume or skip; other settings are
    refused unless ``redo``."""
    src, utts = utterances_of(data, scp_name)
    prov = ustokens_provenance(model_dir, src)
    return write_codes(
        utts,
        out_dir,
        name,
        prov,
        _shard_worker,
        lambda shard, prefix: (str(model_dir), shard, prefix),
        nj,
        redo,
    )
