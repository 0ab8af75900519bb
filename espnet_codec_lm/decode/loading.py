"""Find and load what decoding needs: the LM checkpoint of an experiment, its tokenizer, the codec.

An LM may be named by

* a checkpoint directory of ours (``speech_lm.json`` inside: ``SpeechLM.save_pretrained``),
* an experiment directory written by ``bin/lm_train``: its final ``model/``, else the checkpoint
  ``checkpoints/latest`` names (``checkpoints/step_XXXXXXXX/model``).

The codec is a directory for ``codec.load_codec`` (``config.yaml`` + ``model.safetensors``). When
none is given, ``<experiment>/codec`` is used if it exists (a recipe may link the codec there so
that an experiment directory is self-contained for the inference API).
"""

from __future__ import annotations

from pathlib import Path

from espnet_codec_lm.codec.model import load_codec
from espnet_codec_lm.lm.model import META_FILE, SpeechLM
from espnet_codec_lm.lm.tokenizer import has_tokenizer, load_text_tokenizer
from espnet_codec_lm.utils.device import resolve_device


class CheckpointNotFound(ValueError):
    """No usable checkpoint at the given path (one line naming it)."""


def resolve_checkpoint(path: str | Path) -> Path:
    """The SpeechLM checkpoint directory for a checkpoint or experiment directory."""
    p = Path(path)
    if not p.exists():
        raise CheckpointNotFound(f"{p}: no such LM checkpoint or experiment directory")
    if (p / META_FILE).is_file():
        return p
    if (p / "model" / META_FILE).is_file():
        return p / "model"
    latest = p / "checkpoints" / "latest"
    if latest.is_file():
        step = latest.read_text(encoding="utf-8").strip()
        ckpt = p / "checkpoints" / step / "model"
        if (ckpt / META_FILE).is_file():
            return ckpt
        raise CheckpointNotFound(f"{latest}: names '{step}', which holds no model/{META_FILE}")
    raise CheckpointNotFound(
        f"{p}: no LM checkpoint ({META_FILE} not found in it, in model/ or in "
        "checkpoints/<latest>/model/)"
    )


def experiment_dir(checkpoint: Path) -> Path:
    """The experiment a checkpoint belongs to (``exp/x/model`` -> ``exp/x``;
    ``exp/x/checkpoints/step_N/model`` -> ``exp/x``; else the checkpoint itself)."""
    checkpoint = Path(checkpoint)
    if checkpoint.name == "model" and checkpoint.parent.parent.name == "checkpoints":
        return checkpoint.parent.parent.parent
    if checkpoint.name == "model":
        return checkpoint.parent
    return checkpoint


def load_lm(path: str | Path, dtype: str = "float32", device: str = "cpu"):
    """``(model in eval mode, text tokenizer, checkpoint dir)`` from a checkpoint / experiment."""
    device = resolve_device(device)
    ckpt = resolve_checkpoint(path)
    model = SpeechLM.from_pretrained(ckpt, dtype=dtype, device=device).eval()
    if not has_tokenizer(ckpt):
        raise CheckpointNotFound(f"{ckpt}: checkpoint has no text tokenizer")
    tokenizer = load_text_tokenizer(ckpt)
    if tokenizer.vocab_size != model.layout.text_vocab_size:
        raise CheckpointNotFound(
            f"{ckpt}: tokenizer has {tokenizer.vocab_size} ids, vocab_layout.json says "
            f"{model.layout.text_vocab_size}"
        )
    return model, tokenizer, ckpt


def find_codec_dir(codec: str | Path | None, lm_path: str | Path | None = None) -> Path:
    """The codec directory: ``codec`` if given, else ``<experiment>/codec``."""
    if codec is not None:
        d = Path(codec)
    elif lm_path is not None:
        d = experiment_dir(resolve_checkpoint(lm_path)) / "codec"
        if not d.exists():
            raise CheckpointNotFound(
                f"no codec given and {d} does not exist (pass the codec directory, or link it "
                "there)"
            )
    else:
        raise CheckpointNotFound("no codec directory given")
    if not (d / "model.safetensors").is_file() or not (d / "config.yaml").is_file():
        raise CheckpointNotFound(f"{d}: not a codec directory (config.yaml + model.safetensors)")
    return d


def load_codec_dir(codec_dir: str | Path, device: str = "cpu"):
    """An eval-mode :class:`~espnet_codec_lm.codec.abs_codec.AbsCodec` from a codec directory."""
    try:
        return load_codec(codec_dir, device=resolve_device(device))
    except FileNotFoundError as e:
        raise CheckpointNotFound(str(e).splitlines()[0]) from None
