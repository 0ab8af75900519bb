"""Complete the mini recipe's RESULTS.md: tables, then what they say about the paper's findings.

Re-renders the toolkit's report (``bin/report``: the four tables with the paper's reference rows
and protocols, and the forgetting table) and adds around it: how the run was made (command, git
commit, corpus, machine), the held-out loss per task of every system (local/losses.py), the
quality goals of the main system, one paragraph per finding of the
paper saying whether it holds at this scale (with the numbers; findings that need systems that
did not run are named as not checked), wall / CPU time and peak memory per stage against the
budgets, and spectrograms of a few generated utterances (PNG).

Usage (from the recipe directory; ``local`` is the recipe's own package):
    python -m local.results --results RESULTS.md --exp exp --times exp/stage_times.jsonl \\
        --command "./run.sh" --size default --systems speech_text_cpt --png_dir ../../../doc/mini_results
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import sys
from pathlib import Path

from espnet_codec_lm.bin.measure import read_log, summary
from espnet_codec_lm.metrics import paper
from espnet_codec_lm.utils import provenance

from .findings import findings_lines, goal_lines, system_values
from .losses import curve_lines, loss_lines, sft_plan, sft_runs
from .spectrograms import spectrogram_lines

MARK = "<!-- completed by local/results.py -->"
#: run.sh's system keys -> the paper's system names
SYSTEM_NAMES = {
    **dict(zip(("no_init", "text_llm", "speech_cpt", "speech_text_cpt"), paper.SYSTEMS)),
    "dual": "DualSpeechLM",
}
BUDGET_S = {"main": 30 * 60, "all": 2 * 3600, "long": 4 * 3600}
BUDGET_MB = 6 * 1024


#: files a run of the recipe writes into the repository (RESULTS*.md, their plots, spectrograms)
OWN_OUTPUTS = re.compile(r"(^|/)RESULTS[^/]*\.(md|png)$|(^|/)doc/mini_results/")


def main_name(systems: list[str]) -> str:
    """The system whose goals and learning curve are reported: Speech & Text CPT when it ran
    (the paper's main system), else the last one."""
    key = "speech_text_cpt" if "speech_text_cpt" in systems else systems[-1]
    return SYSTEM_NAMES.get(key, key)


def git_commit(where: Path) -> str:
    """Short commit of the repository holding ``where`` (``+ local changes`` when dirty; the
    outputs this report (re)writes are not changes to the code that made them)."""
    found = provenance.git_commit(where, short=True, ignore=OWN_OUTPUTS)
    if found is None:
        return "unknown (not a git checkout)"
    return found[0] + (" + local changes" if found[1] else "")


def machine() -> str:
    """CPU model, core count and the load average (a shared machine inflates wall times)."""
    model = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return f"{model}, {os.cpu_count()} cores, load average at the end {load}"


def run_lines(args, systems: list[str]) -> list[str]:
    """How this RESULTS.md was made."""
    names = ", ".join(SYSTEM_NAMES.get(s, s) for s in systems)
    return [
        f"- Command: `{args.command.strip()}` (corpus size `{args.size}`, smoke `{args.smoke}`)",
        f"- Git commit: {git_commit(Path(os.environ.get('MAIN_ROOT', '.')))}",
        f"- Systems: {names}",
        f"- Machine: {machine()}",
        f"- Fine-tuning: {sft_plan(Path(args.exp), main_name(systems))}",
        "- The ASR that scores TTS (WER/CER) and S2ST (ASR-BLEU) is **each system's own "
        "fine-tuned model** (`--score_asr self`: the toolkit ASR of that system's SFT "
        "experiment), not Whisper-large-v3 as in the paper; a system that recognises badly "
        "therefore also scores its own speech badly.",
        "- The base LLM is a tiny Qwen2-architecture text LM trained from scratch on the corpus' "
        "text in stage 5 (the stand-in for Qwen1.5-0.5B; `exp/text_llm`). Speaker similarity and "
        "UTMOS need local checkpoints (`--spk_model`, `--mos_model`); without them they read "
        "'not computed'.",
    ]


def departure_lines(exp: Path, system: str) -> list[str]:
    """The small-data settings of ``system``'s SFT and decoding that depart from the paper, read
    from its resolved training config and its decode dirs (doc/mini_recipe.md)."""
    import yaml

    from espnet_codec_lm.metrics.report import collect

    build, repeats, rows_init, noise, guided = {}, {}, set(), {}, {}
    for run in sft_runs(exp, "cpt").get(system, []) + sft_runs(exp).get(system, []):
        cfg = yaml.safe_load((run / "config.yaml").read_text(encoding="utf-8")) or {}
        data = cfg.get("data") or {}
        if cfg.get("stage") == "sft":  # the settings of every fine-tuning run, merged
            build = {**build, **(data.get("build") or {})}
            repeats.update(data.get("task_repeats") or {})
            if data.get("speech_target_noise"):
                noise[run.name] = (data["speech_target_noise"], data.get("tasks") or [])
            ga = cfg.get("guided_attention") or {}
            if ga.get("weight"):
                guided[run.name] = ga
        if (cfg.get("model") or {}).get("init") == "text_llm":
            rows_init.add((cfg.get("model") or {}).get("new_rows_init"))
    out = []
    if "codec" in rows_init:
        out.append(
            "codec embedding rows initialised from the codec's codebooks (`new_rows_init: codec`)"
        )
    if build.get("prompt_index") is not None:
        out.append(
            f"SFT prompts: entry {build['prompt_index']} of each task's bank in the "
            f"{'utterance' if build.get('prompt_lang') == 'data' else build.get('prompt_lang')}'s "
            "language (paper: one of 25 at random)"
        )
    if (build.get("time_mask") or {}).get("enable") is False:
        out.append("no ASR time masking")
    if repeats:
        reps = ", ".join(f"{t} x{n}" for t, n in sorted(repeats.items()))
        out.append(f"SFT pairs drawn per epoch: {reps}")
    for p, tasks in sorted(set((p, tuple(t)) for p, t in noise.values())):
        out.append(
            f"{'/'.join(tasks)} SFT: each input code of the speech target replaced by a random "
            f"code with probability {p} (`speech_target_noise`; labels unchanged)"
        )
    for ga in {yaml.safe_dump(g, sort_keys=True): g for g in guided.values()}.values():
        out.append(
            f"guided attention in {'/'.join(ga.get('tasks') or [])} SFT (`guided_attention`: "
            f"weight {ga['weight']}, sigma {ga.get('sigma')}, layers {ga.get('layers')}, heads "
            f"{ga.get('heads')}; not in the paper)"
        )
    if build.get("sft_speaker_prompt_s") is not None and build["sft_speaker_prompt_s"] != 3.0:
        out.append(
            f"TTS speaker prompt {build['sft_speaker_prompt_s']} s in SFT and decoding (paper: 3 s)"
        )
    seen = set()
    for r in collect(exp):
        if r.system != system:
            continue
        dec = ((r.scores.get("protocol") or {}).get("decoding") or {}).get("decoding") or {}
        task = r.scores.get("task")
        if task in ("asr", "s2tt") and (dec.get("text") or {}).get("script") == "target":
            seen.add(f"{task}: outputs constrained to the target language's script")
        sp = dec.get("speech") or {}
        if task in ("tts", "s2st") and sp:
            seen.add(
                f"{task}: {sp.get('num_samples')} sample(s) at temperature {sp.get('temperature')}"
                f", top-k {sp.get('top_k')} (paper: 5 at 1.5, top-k 30)"
            )
    out += sorted(seen)
    if not out:
        return []
    return ["- Small-data settings (doc/mini_recipe.md): " + "; ".join(out) + "."]


def time_lines(times: Path, systems: list[str], budget_name: str = "default") -> list[str]:
    """The per-stage table and the budgets."""
    rows = read_log(times)
    if not rows:
        return [f"No stage timings recorded ({times})."]
    which = "all" if len(systems) > 1 else "main"
    if budget_name == "long":
        which = "long"
    wall = sum(r["wall_s"] for r in rows)
    cpu = sum(r["cpu_s"] for r in rows)
    peak = max(r["peak_rss_mb"] for r in rows)
    budget = BUDGET_S[which]
    verdict = "within" if wall <= budget else "over"
    run = {"all": "`--systems all`", "long": "the long run"}.get(which, "the default run")
    return [
        summary(rows, markdown=True),
        "",
        f"Total wall time {wall / 60:.1f} min ({verdict} the {budget // 60} min budget of "
        f"{run}), CPU time {cpu / 60:.1f} min, peak memory {peak / 1024:.2f} GB (budget 6 GB; the sum of the "
        "resident memory of every process of a stage, sampled every 0.2 s). Wall times depend "
        "on what else runs on the machine (see the load average above); CPU times do not, and "
        "a 2-core machine running only this recipe needs about half the CPU time as wall time "
        "in the training stages, which use both cores.",
    ]


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--results", default="RESULTS.md")
    p.add_argument("--exp", default="exp")
    p.add_argument("--times", default="exp/stage_times.jsonl")
    p.add_argument("--command", default="./run.sh")
    p.add_argument("--size", default="default")
    p.add_argument("--systems", default="speech_text_cpt")
    p.add_argument("--smoke", default="false")
    p.add_argument("--budget", default="default", choices=["default", "long"])
    p.add_argument("--png_dir", default="exp/spectrograms", help="where spectrogram PNGs go")
    args = p.parse_args(argv)

    from espnet_codec_lm.metrics.report import collect, render

    out = Path(args.results)
    systems = args.systems.split()
    tables = render(args.exp, out, plots=True, title="Results: the mini bilingual recipe")
    title, body = tables.split("\n", 1)
    values = system_values(collect(args.exp), args.exp)
    main_system = main_name(systems)
    lines = [
        title,
        "",
        MARK,
        "The paper's method (Shi et al. 2025) at toy scale, offline on a CPU: a synthetic "
        "English/Mandarin corpus (espeak-ng), a small codec, a tiny text LLM, CPT, fine-tuning, "
        "decoding and scoring. The paper's numbers are shown under each table for reference; "
        "its test sets are real corpora, so no cell is comparable one to one. What is comparable "
        "is the *ordering of the systems*, which the findings below check.",
        "",
        "## How this was made",
        "",
        *run_lines(args, systems),
        *departure_lines(Path(args.exp), main_system),
        "",
        body.lstrip("\n").rstrip(),
        "",
        "## Held-out loss per task",
        "",
        *loss_lines(Path(args.exp), [SYSTEM_NAMES.get(s, s) for s in systems]),
        "",
        "## Learning curve of the main system",
        "",
        *curve_lines(Path(args.exp), main_system, Path(args.png_dir), out.parent),
        "",
        "## Quality goals of the main system",
        "",
        *goal_lines(values.get(main_system, {}), main_system, args.budget),
        "## The paper's findings at this scale",
        "",
        *findings_lines(values, [SYSTEM_NAMES.get(s, s) for s in systems]),
        "",
        "## Time and memory per stage",
        "",
        *time_lines(Path(args.times), systems, args.budget),
        "",
        "## Generated speech",
        "",
        *spectrogram_lines(Path(args.exp), main_system, Path(args.png_dir), out.parent),
    ]
    from espnet_codec_lm.utils.fileio import atomic_write_text

    atomic_write_text(out, "\n".join(lines).rstrip() + "\n")
    print(f"results.py: wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
