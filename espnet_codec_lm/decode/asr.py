"""The recipe's own ASR as a scoring model (``metrics.asr``'s ``toolkit`` kind).

Scoring transcribes generated speech (TTS WER, S2ST ASR-BLEU) with any object that has
``transcribe(wavs, sample_rate, language) -> list[str]``; with ``asr.kind: toolkit`` it calls
``espnet_codec_lm.decode.asr:load_recognizer(path, device)``. ``path`` is

* an ASR experiment or checkpoint directory (its codec at ``<experiment>/codec``), or a pack
  of ``bin/pack`` (of several models: its ASR model), or
* a YAML file ``{lm: <exp or checkpoint>, codec: <codec dir>, overrides: [key=value, ...]}``
  (overrides of :class:`~espnet_codec_lm.decode.config.LMDecodeConfig`, e.g.
  ``decoding.text.beam_size=4``).
"""

from __future__ import annotations

from pathlib import Path


def load_recognizer(path: str | Path, device: str = "cpu"):
    """A :class:`~espnet_codec_lm.inference.SpeechLMInference` used for its ``transcribe``."""
    from espnet_codec_lm.config import load_config, read_yaml
    from espnet_codec_lm.decode.config import LMDecodeConfig
    from espnet_codec_lm.inference import SpeechLMInference

    path = Path(path)
    lm, codec, overrides = path, None, []
    if path.is_file():
        spec = read_yaml(path)
        unknown = set(spec) - {"lm", "codec", "overrides"}
        if unknown or "lm" not in spec:
            raise ValueError(f"{path}: expected keys lm, codec, overrides (got {sorted(spec)})")
        lm = Path(spec["lm"])
        codec = spec.get("codec")
        overrides = [str(o) for o in spec.get("overrides") or []]
    cfg = load_config(LMDecodeConfig, None, [*overrides, f"decoding.device={device}"])
    cfg.task = "asr"
    return SpeechLMInference(lm, codec=codec, config=cfg, task="asr")
