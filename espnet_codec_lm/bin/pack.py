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

A system fine-tuned in several runs, one per group of tasks (the recipe's ``--sft_groups``), is
packed with one ``--exp`` per run into a pack of several models::

    <out>/asr_s2tt/   model/, decode/ (its tasks' configs), codec -> ../codec: a pack, no card
    <out>/tts_s2st/   the same for the other run
    <out>/codec/      the codec, shared (a copy, or the link of --link_codec)
    <out>/tasks.yaml  each task's sub-directory: {asr: asr_s2tt, s2tt: asr_s2tt, tts: ...}
    <out>/README.md   one model card: every model's tasks, training data and metrics

A sub-directory is named after the tasks its experiment was scored on (its ``decode_*/
scores.yaml``, in the toolkit's task order, joined by ``_``); a task scored by two experiments is
an error, and so is a decode config of a task no experiment was scored on. The pack still loads
by its one path, with the task named: ``bin/infer --lm <out> --task tts``,
``SpeechLMInference("<out>", task="tts")`` (``inference.lm_for_task``).

Usage:
    python -m espnet_codec_lm.bin.pack --exp exp/lm_sft_speech_text_cpt --out pretrained/lm \\
        --codec pretrained/codec --decode_config conf/mini/decode_asr.yaml \\
        --decode_config conf/mini/decode_tts.yaml --dtype float16 --name "..."
    # several models: one --exp per run (a decode config goes to the run scored on its task)
    python -m espnet_codec_lm.bin.pack --exp exp/lm_sft_asr_s2tt_x --exp exp/lm_sft_tts_s2st_x \\
        --out pretrained/lm --codec pretrained/codec --decode_config conf/mini/decode_asr.yaml ...
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

from espnet_codec_lm.bin.lm_export import export
from espnet_codec_lm.config import read_yaml
from espnet_codec_lm.tasks.templates import TASK_NAMES

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
    p.add_argument(
        "--exp",
        action="append",
        required=True,
        help="LM experiment (or checkpoint) directory; repeat for a pack of several models",
    )
    p.add_argument("--out", required=True, help="pack directory (replaced atomically)")
    p.add_argument(
        "--codec", default=None, help="codec directory (default <exp>/codec, one for all --exp)"
    )
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


@dataclass
class PackedModel:
    """One experiment of a pack: where it is packed (``sub``: its sub-directory in a pack of
    several models, else None), its checkpoint, config, scores and decode configs."""

    sub: str | None
    checkpoint: Path
    exp: Path
    cfg: dict
    scores: list[dict]
    decode_configs: list[str]


def scored_tasks(scores: list[dict]) -> list[str]:
    """The tasks of ``scores`` in the toolkit's task order (``tasks.TASK_NAMES``)."""
    found = {s["task"] for s in scores}
    return [t for t in TASK_NAMES if t in found]


def _packed_name(config: str) -> str:
    """The name of a decode config in a pack's ``decode/`` (``decode_asr.yaml`` -> ``asr.yaml``)."""
    return Path(config).name.replace("decode_", "")


def _langs(scores: list[dict]) -> list[str]:
    found = {x for s in scores for x in (s["src_lang"], s["tgt_lang"]) if x}
    return sorted(found) or ["en", "zh"]


def _tasks(m: PackedModel) -> list[str]:
    return (m.cfg.get("data") or {}).get("tasks") or sorted(
        {s["task"] for s in m.scores if s["task"]}
    )


def _system(m: PackedModel) -> str:
    return f"{m.cfg.get('system') or 'unnamed'} (stage {m.cfg.get('stage')})"


def model_card(name: str, models: list[PackedModel], license_: str) -> str:
    """The README.md of a pack (Hugging Face model-card layout); one card for all its models."""
    several = models[0].sub is not None
    scores = [s for m in models for s in m.scores]
    sets = [
        s.get("data_dir")
        for m in models
        for s in (m.cfg.get("data") or {}).get("speech_sets") or []
        if isinstance(s, dict)
    ]
    sets = list(dict.fromkeys(sets))  # in order, once each
    front = {
        "license": license_,
        "language": _langs(scores),
        "library_name": "espnet_codec_lm",
        "tags": ["speech", "codec-lm", "asr", "tts", "speech-translation"],
        "pipeline_tag": "automatic-speech-recognition",
    }
    if several:
        system = [
            "Several models, one per group of tasks; `tasks.yaml` maps each task to its model's "
            "directory (name the task to load it). Packed by `espnet_codec_lm.bin.pack` from:",
            "",
            *(
                f"- `{m.sub}/`: {_system(m)}; tasks: {', '.join(_tasks(m))}; from `{m.exp}`."
                for m in models
            ),
        ]
    else:
        m = models[0]
        system = [
            f"System: {_system(m)}; tasks: {', '.join(_tasks(m))}. Packed from `{m.exp}` by "
            "`espnet_codec_lm.bin.pack`."
        ]
    lines = [
        "---",
        yaml.safe_dump(front, sort_keys=False, allow_unicode=True).strip(),
        "---",
        "",
        f"# {name}",
        "",
        *system,
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
        'm = SpeechLMInference("<this directory>", task="asr")  # the model of that task'
        if several
        else 'm = SpeechLMInference("<this directory>")',
        "```",
        "",
        "The decode configs the metrics below were computed with are in "
        + ("each model's `decode/`" if several else "`decode/`")
        + " (pass one with `--config`).",
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


def plan_models(exps: list[str | Path], decode_configs: list[str]) -> list[PackedModel]:
    """The models of a pack of ``exps`` and the decode configs each gets (all of them for one
    experiment; for several, each config goes to the experiment scored on its task)."""
    # lazy: decode.loading imports torch, which --help does not need
    from espnet_codec_lm.decode.loading import experiment_dir, resolve_checkpoint

    for c in decode_configs:
        if not Path(c).is_file():
            raise ValueError(f"{c}: decode config not found")
    models = []
    for e in exps:
        ckpt = resolve_checkpoint(e)
        exp_dir = experiment_dir(ckpt)
        cfg_file = exp_dir / "config.yaml"
        cfg = read_yaml(cfg_file) if cfg_file.is_file() else {}
        models.append(PackedModel(None, ckpt, exp_dir, cfg, collect_scores(exp_dir), []))
    if len(models) == 1:
        models[0].decode_configs = list(decode_configs)
        return models
    owner: dict[str, PackedModel] = {}  # task -> the model scored on it
    for m in models:
        tasks = scored_tasks(m.scores)
        if not tasks:
            raise ValueError(f"{m.exp}: no scored decode directory, so no task to pack it for")
        m.sub = "_".join(tasks)
        for t in tasks:
            if t in owner:
                raise ValueError(f"task {t} is scored by two experiments: {owner[t].exp}, {m.exp}")
            owner[t] = m
    for c in decode_configs:
        task = Path(_packed_name(c)).stem
        if task not in owner:
            raise ValueError(f"{c}: decode config of task {task}, which no --exp was scored on")
        owner[task].decode_configs.append(c)
    return models


def _write_model(d: Path, m: PackedModel, dtype: str | None) -> None:
    """``model/`` and ``decode/`` of one model into ``d``."""
    export(str(m.checkpoint), str(d / "model"), dtype)
    if m.decode_configs:
        (d / "decode").mkdir()
        for c in m.decode_configs:
            shutil.copy2(c, d / "decode" / _packed_name(c))


def pack(
    exp: str | Path | list[str | Path],
    out: str | Path,
    codec: str | Path | None = None,
    decode_configs: list[str] | None = None,
    dtype: str | None = None,
    name: str | None = None,
    notes: str | Path | None = None,
    license_: str = "apache-2.0",
    link_codec: bool = False,
) -> Path:
    """Write the pack of one experiment, or of several (a list; see the module docstring);
    returns its directory."""
    # lazy: decode.loading and inference import torch (and transformers); --help needs neither
    from espnet_codec_lm.decode.loading import find_codec_dir
    from espnet_codec_lm.inference import TASKS_FILE

    models = plan_models([exp] if isinstance(exp, (str, Path)) else list(exp), decode_configs or [])
    codec_dir = find_codec_dir(codec, models[0].checkpoint)
    for m in models[1:] if codec is None else []:
        if find_codec_dir(None, m.checkpoint).resolve() != codec_dir.resolve():
            raise ValueError(f"{m.exp}: another codec than {models[0].exp}'s (pass --codec)")
    out = Path(out)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        for m in models:
            if m.sub is None:
                _write_model(tmp, m, dtype)
            else:  # a complete pack of its own, with the shared codec
                (tmp / m.sub).mkdir()
                _write_model(tmp / m.sub, m, dtype)
                (tmp / m.sub / "codec").symlink_to(Path("..") / "codec")
        if link_codec:  # relative to where the pack will be, so the repository can move
            (tmp / "codec").symlink_to(os.path.relpath(codec_dir.resolve(), out.resolve()))
        else:
            (tmp / "codec").mkdir()
            for f in ("config.yaml", "model.safetensors"):
                shutil.copy2(codec_dir / f, tmp / "codec" / f)
        if models[0].sub is not None:
            tasks = {t: m.sub for m in models for t in scored_tasks(m.scores)}
            (tmp / TASKS_FILE).write_text(yaml.safe_dump(tasks, sort_keys=False), encoding="utf-8")
        card = model_card(
            name or f"{models[0].cfg.get('system') or models[0].exp.name}", models, license_
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
