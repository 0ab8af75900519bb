"""Pack a trained system into one self-contained directory with a model card.

The pack holds everything inference needs and nothing else::

    <out>/model/      the LM (SpeechLM checkpoint, Hugging Face layout, its text tokenizer)
    <out>/codec/      the codec (config.yaml + model.safetensors)
    <out>/decode/     the decode configs it was scored with (<task>.yaml)
    <out>/README.md   model card: tasks, languages, training data, metrics and their protocol,
                      limits, licence (Hugging Face model-card style, YAML front matter)

so ``SpeechLMInference("<out>")`` and ``bin/infer --lm <out>`` load it by path (the LM is found
in ``model/``, the codec in ``codec/`` beside it). The metrics are read from the scored decode
directories of the experiment (``<exp>/decode_*/scores.yaml``). The pack is written into a
temporary directory and renamed into place, so an interrupted run leaves the old pack intact.

Usage:
    python -m espnet_codec_lm.bin.pack --exp exp/lm_sft_speech_text_cpt --out pretrained/lm \\
        --codec pretrained/codec --decode_config conf/mini/decode_asr.yaml \\
        --decode_config conf/mini/decode_tts.yaml --dtype float16 --name "..."
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

import yaml

#: metrics of scores.yaml shown in the card, with their direction
CARD_METRICS = {
    "wer": "WER (%)",
    "cer": "CER (%)",
    "bleu": "BLEU",
    "asr_bleu": "ASR-BLEU",
    "target_lang": "outputs in the target language (%)",
    "stopped_within_0.5_2x": "samples that stop within 0.5-2x of the reference (%)",
    "spk_sim": "SPK-SIM",
    "utmos": "UTMOS",
}


def get_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m espnet_codec_lm.bin.pack",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--exp", required=True, help="LM experiment (or checkpoint) directory")
    p.add_argument("--out", required=True, help="pack directory (replaced atomically)")
    p.add_argument("--codec", default=None, help="codec directory (default <exp>/codec)")
    p.add_argument("--decode_config", action="append", default=[], help="decode YAML (repeat)")
    p.add_argument("--dtype", default=None, choices=["float32", "bfloat16", "float16"])
    p.add_argument("--name", default=None, help="title of the model card")
    p.add_argument("--notes", default=None, help="a markdown file appended to the card")
    p.add_argument("--license", default="apache-2.0")
    p.add_argument(
        "--link_codec",
        action="store_true",
        help="codec/ as a relative symlink to --codec instead of a copy (a pack shipped beside "
        "its codec in one repository)",
    )
    return p


def collect_scores(exp: Path) -> list[dict]:
    """One entry per scored decode directory of ``exp`` (task, languages, metrics, protocol)."""
    out = []
    for f in sorted(exp.glob("decode_*/scores.yaml")):
        s = yaml.safe_load(f.read_text(encoding="utf-8")) or {}
        metrics = {k: s[k] for k in CARD_METRICS if isinstance(s.get(k), (int, float))}
        not_computed = {k: s[k] for k in CARD_METRICS if isinstance(s.get(k), str)}
        proto = s.get("protocol") or {}
        out.append(
            {
                "dir": f.parent.name,
                "task": s.get("task"),
                "test_set": s.get("test_set"),
                "src_lang": s.get("src_lang"),
                "tgt_lang": s.get("tgt_lang"),
                "num_utts": s.get("num_utts"),
                "num_samples": s.get("num_samples"),
                "metrics": metrics,
                "not_computed": not_computed,
                "asr": proto.get("asr"),
            }
        )
    return out


def _langs(scores: list[dict]) -> list[str]:
    found = {x for s in scores for x in (s["src_lang"], s["tgt_lang"]) if x}
    return sorted(found) or ["en", "zh"]


def model_card(name: str, exp: Path, cfg: dict, scores: list[dict], license_: str) -> str:
    """The README.md of a pack (Hugging Face model-card layout)."""
    data = cfg.get("data") or {}
    tasks = data.get("tasks") or sorted({s["task"] for s in scores if s["task"]})
    sets = [s.get("data_dir") for s in data.get("speech_sets") or [] if isinstance(s, dict)]
    front = {
        "license": license_,
        "language": _langs(scores),
        "library_name": "espnet_codec_lm",
        "tags": ["speech", "codec-lm", "asr", "tts", "speech-translation"],
        "pipeline_tag": "automatic-speech-recognition",
    }
    lines = [
        "---",
        yaml.safe_dump(front, sort_keys=False, allow_unicode=True).strip(),
        "---",
        "",
        f"# {name}",
        "",
        f"System: {cfg.get('system') or 'unnamed'} (stage {cfg.get('stage')}); tasks: "
        f"{', '.join(tasks)}. Packed from `{exp}` by `espnet_codec_lm.bin.pack`.",
        "",
        "## Use",
        "",
        "```bash",
        "python -m espnet_codec_lm.bin.infer --lm <this directory> --task asr --wav in.wav "
        "--lang en",
        "python -m espnet_codec_lm.bin.infer --lm <this directory> --task tts --text '...' "
        "--prompt_wav voice.wav --out out.wav",
        "```",
        "",
        "```python",
        "from espnet_codec_lm.inference import SpeechLMInference",
        "",
        'm = SpeechLMInference("<this directory>")',
        "```",
        "",
        "The decode configs the metrics below were computed with are in `decode/` (pass one with "
        "`--config`).",
        "",
        "## Training data",
        "",
        *([f"- `{d}`" for d in sets] or ["- (not recorded in the experiment's config)"]),
        "",
        "## Metrics",
        "",
    ]
    if scores:
        lines += [
            "| task | test set | languages | utterances | metric | value |",
            "|---|---|---|---:|---|---:|",
        ]
        for s in scores:
            pair = "->".join(x for x in (s["src_lang"], s["tgt_lang"]) if x) or "mixed"
            for k, v in s["metrics"].items():
                lines.append(
                    f"| {s['task']} | {s['test_set']} | {pair} | {s['num_utts']} | "
                    f"{CARD_METRICS[k]} | {v:.2f} |"
                )
            for k, v in s["not_computed"].items():
                lines.append(
                    f"| {s['task']} | {s['test_set']} | {pair} | - | {CARD_METRICS[k]} | {v} |"
                )
        asr = sorted({s["asr"] for s in scores if s.get("asr")})
        lines += [
            "",
            "Protocol: text normalised as in `doc/metrics.md` (Whisper English normaliser; "
            "Mandarin per character); WER for English, CER for Mandarin; BLEU by sacrebleu. "
            + (f"Generated speech transcribed by: {', '.join(asr)}." if asr else ""),
        ]
    else:
        lines.append("Not scored: the experiment has no scored decode directory.")
    lines += [
        "",
        "## Limits",
        "",
        "- Trained only on the data listed above: it has heard nothing else (voices, accents, "
        "vocabulary, recording conditions), and its outputs outside that domain are not "
        "meaningful.",
        "- Speech outputs are sampled: the same call with another seed gives other audio.",
        "",
        "## Licence",
        "",
        f"{license_}",
    ]
    return "\n".join(lines).rstrip() + "\n"


def pack(
    exp: str | Path,
    out: str | Path,
    codec: str | Path | None = None,
    decode_configs: list[str] | None = None,
    dtype: str | None = None,
    name: str | None = None,
    notes: str | Path | None = None,
    license_: str = "apache-2.0",
    link_codec: bool = False,
) -> Path:
    """Write the pack (see the module docstring); returns its directory."""
    from espnet_codec_lm.bin.lm_export import export
    from espnet_codec_lm.config import read_yaml
    from espnet_codec_lm.decode.loading import (
        experiment_dir,
        find_codec_dir,
        resolve_checkpoint,
    )

    ckpt = resolve_checkpoint(exp)
    exp_dir = experiment_dir(ckpt)
    codec_dir = find_codec_dir(codec, ckpt)
    for c in decode_configs or []:
        if not Path(c).is_file():
            raise ValueError(f"{c}: decode config not found")
    cfg_file = exp_dir / "config.yaml"
    cfg = read_yaml(cfg_file) if cfg_file.is_file() else {}
    out = Path(out)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        export(str(ckpt), str(tmp / "model"), dtype)
        if link_codec:  # relative to where the pack will be, so the repository can move
            (tmp / "codec").symlink_to(os.path.relpath(codec_dir.resolve(), out.resolve()))
        else:
            (tmp / "codec").mkdir()
            for f in ("config.yaml", "model.safetensors"):
                shutil.copy2(codec_dir / f, tmp / "codec" / f)
        if decode_configs:
            (tmp / "decode").mkdir()
            for c in decode_configs:
                shutil.copy2(c, tmp / "decode" / Path(c).name.replace("decode_", ""))
        card = model_card(
            name or f"{cfg.get('system') or exp_dir.name}",
            exp_dir,
            cfg,
            collect_scores(exp_dir),
            license_,
        )
        if notes:
            card += "\n" + Path(notes).read_text(encoding="utf-8").strip() + "\n"
        (tmp / "README.md").write_text(card, encoding="utf-8")
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        if out.exists():
            os.replace(out, old)
        os.replace(tmp, out)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out


def main(argv: list[str] | None = None) -> int:
    args = get_parser().parse_args(argv)
    try:
        out = pack(
            args.exp,
            args.out,
            args.codec,
            args.decode_config,
            args.dtype,
            args.name,
            args.notes,
            args.license,
            args.link_codec,
        )
    except (ValueError, OSError) as e:
        print(f"pack: error: {e}", file=sys.stderr)
        return 1
    size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    print(f"pack: {out} ({size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
