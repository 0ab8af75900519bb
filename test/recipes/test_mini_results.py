"""The mini recipe's own helpers (egs2/mini_bilingual/codec_lm1/local): stage measurement, the
paper-finding checks and goals of RESULTS.md, on hand-made numbers and experiment trees."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
import yaml
from recipe_helpers import EGS

from espnet_codec_lm.bin import measure

RECIPE = EGS / "mini_bilingual" / "codec_lm1"
sys.path.insert(0, str(RECIPE))  # the recipe's own package, as run.sh runs it: python -m local.X

from local import findings, losses, results  # noqa: E402

ST, SP, TL, NI = findings.ST, findings.SP, findings.TL, findings.NI
ALL = [NI, TL, SP, ST]


def test_measure_records_wall_cpu_memory_of_the_process_tree(tmp_path):
    log = tmp_path / "times.jsonl"
    # a parent that starts a child holding ~300 MB while the parent burns CPU, then exits 3
    code = (
        "import subprocess, sys, time\n"
        "c = subprocess.Popen([sys.executable, '-c', "
        '\'import time; b = bytearray(300 * 2**20); b[::4096] = b"x" * len(b[::4096]); '
        "time.sleep(1.5)'])\n"
        "t = time.process_time()\n"
        "while time.process_time() - t < 0.5: pass\n"
        "c.wait(); sys.exit(3)\n"
    )
    rc = measure.main(["run", "--log", str(log), "--label", "s1", "--", sys.executable, "-c", code])
    assert rc == 3
    (row,) = [json.loads(x) for x in log.read_text().splitlines()]
    assert row["label"] == "s1" and row["rc"] == 3
    assert row["peak_rss_mb"] >= 300  # the child's memory counts
    assert row["cpu_s"] >= 0.5 and row["wall_s"] >= 1.5
    # a rerun of the same label replaces it in the summary; another label adds a row
    measure.main(["run", "--log", str(log), "--label", "s1", "--", sys.executable, "-c", "pass"])
    measure.main(["run", "--log", str(log), "--label", "s2", "--", sys.executable, "-c", "pass"])
    rows = measure.read_log(log)
    assert [r["label"] for r in rows] == ["s1", "s2"] and rows[0]["rc"] == 0
    table = measure.summary(rows, markdown=True).splitlines()
    assert table[0] == "| step | wall (s) | CPU (s) | peak memory (MB) |"
    total = table[-1].split("|")
    assert total[1].strip() == "total"
    assert float(total[2]) == pytest.approx(rows[0]["wall_s"] + rows[1]["wall_s"], abs=0.11)


def test_measure_cli_summary_and_bad_log(tmp_path):
    log = tmp_path / "t.jsonl"
    log.write_text(json.dumps({"label": "a", "wall_s": 2, "cpu_s": 1, "peak_rss_mb": 5, "rc": 0}))
    cli = [sys.executable, "-m", "espnet_codec_lm.bin.measure"]
    out = subprocess.run([*cli, "summary", "--log", str(log)], text=True, capture_output=True)
    assert out.returncode == 0 and out.stdout.splitlines()[1].split()[:2] == ["a", "2.0"]
    log.write_text("{not json\n")
    out = subprocess.run([*cli, "summary", "--log", str(log)], text=True, capture_output=True)
    assert out.returncode == 1 and f"{log}:1: not a JSON line" in out.stderr


def test_findings_verdicts_on_hand_made_numbers():
    v = {
        NI: {"asr_wer": 20.0, "asr_cer": 15.0, "s2tt_en_zh": 10.0, "s2tt_zh_en": 9.0,
             "tts_wer": 60.0, "s2st": 1.0},
        TL: {"asr_wer": 18.0, "asr_cer": 16.0, "s2tt_en_zh": 12.0, "s2tt_zh_en": 11.0,
             "tts_wer": 70.0, "s2st": 2.0},
        SP: {"asr_wer": 15.0, "asr_cer": 14.0, "s2tt_en_zh": 11.0, "s2tt_zh_en": 12.0,
             "tts_wer": 30.0, "s2st": 12.0, "ppl_cpt": 40.0, "ppl_text_llm": 20.0},
        ST: {"asr_wer": 12.0, "asr_cer": 14.5, "s2tt_en_zh": 20.0, "s2tt_zh_en": 19.0,
             "tts_wer": 25.0, "s2st": 15.0, "ppl_cpt": 25.0, "ppl_text_llm": 20.0},
    }  # fmt: skip
    text = findings.findings_lines(v, ALL)
    paras = [p for p in text if p]
    assert len(paras) == len(findings.FINDINGS)
    assert paras[0].endswith("**Holds only in part (best on some of the columns).**")  # CER lost
    assert "asr_wer: No Initialization 20.0, Text LLM Initialization 18.0" in paras[0]
    assert paras[1].endswith("**Holds at this scale.**")  # S2TT both directions
    assert paras[2].endswith("**Holds at this scale.**")  # TTS: 30, 25 < 60, 70
    assert paras[3].endswith(f"**Holds at this scale (no-CPT systems below {5:g} ASR-BLEU).**")
    assert paras[4].endswith("**Holds at this scale.**")  # S2ST 15 > 12
    assert paras[5].endswith("**Holds at this scale.**")  # TL ASR 18 < NI 20
    assert paras[6].endswith("**Holds at this scale.**")  # ppl 25 < 40
    # reversed: Speech CPT better on everything Speech & Text CPT should win
    v[SP].update(asr_wer=5.0, asr_cer=5.0, s2tt_en_zh=30.0, s2tt_zh_en=30.0, s2st=20.0, ppl_cpt=22)
    v[NI]["s2st"] = 8.0  # the no-CPT systems learn S2ST a little
    paras = [p for p in findings.findings_lines(v, ALL) if p]
    assert paras[0].endswith("**Does not hold at this scale.**")
    assert paras[1].endswith("**Does not hold at this scale.**")
    assert "Holds in part: CPT systems are better" in paras[3]
    assert paras[4].endswith("**Does not hold at this scale.**")
    assert paras[6].endswith("**Does not hold at this scale.**")


def test_findings_add_the_held_out_loss_verdict():
    v = {
        NI: {"asr_wer": 80.0, "asr_cer": 90.0, "tts_wer": 99.0, "s2st": 0.0,
             "loss_asr": 3.35, "loss_tts": 5.5, "loss_s2st": 4.6},
        TL: {"asr_wer": 120.0, "asr_cer": 300.0, "tts_wer": 110.0, "s2st": 0.0,
             "loss_asr": 1.60, "loss_tts": 5.0, "loss_s2st": 4.0},
        SP: {"asr_wer": 130.0, "asr_cer": 400.0, "tts_wer": 115.0, "s2st": 0.0,
             "loss_asr": 1.50, "loss_tts": 4.7, "loss_s2st": 3.5},
        ST: {"asr_wer": 132.0, "asr_cer": 434.0, "tts_wer": 116.0, "s2st": 0.0,
             "loss_asr": 1.46, "loss_tts": 4.6, "loss_s2st": 3.4},
    }  # fmt: skip
    paras = [p for p in findings.findings_lines(v, ALL) if p]
    # ASR: worst WER, but the lowest held-out loss
    assert "**Does not hold at this scale.** By held-out ASR loss" in paras[0]
    assert "Speech & Text CPT 1.46" in paras[0]
    assert paras[0].endswith("by this measure it holds.")
    assert "By held-out" not in paras[1]  # no S2TT losses: no sentence
    assert paras[2].endswith("by this measure it holds.")  # TTS: CPT 4.7, 4.6 < 5.0, 5.5
    assert paras[3].endswith("by this measure it holds.")  # S2ST: CPT below both
    assert paras[4].endswith("by this measure it holds.")  # S2ST: ST 3.4 < SP 3.5
    assert paras[5].endswith("by this measure it holds.")  # ASR: TL 1.60 < NI 3.35
    # every TTS unintelligible: the decoded metric decides nothing, the loss still speaks
    assert "Not decided by the decoded metric: no system's speech is intelligible" in paras[2]
    # ... and S2ST (the same speech head, the same judge) is not decided by ASR-BLEU either
    assert "Not decided by the decoded metric: the judge reads none" in paras[3]
    assert "Not decided by the decoded metric: the judge reads none" in paras[4]
    v[TL]["loss_tts"] = 4.65  # a system without CPT below Speech CPT
    paras = [p for p in findings.findings_lines(v, ALL) if p]
    assert paras[2].endswith("by this measure it does not hold.")
    # both columns must agree: a CPT system better by WER but worse by CER does not hold
    for s_, (w, c) in {
        NI: (60.0, 50.0),
        TL: (65.0, 55.0),
        SP: (40.0, 70.0),
        ST: (30.0, 20.0),
    }.items():
        v[s_].update(tts_wer=w, tts_cer=c)
    paras = [p for p in findings.findings_lines(v, ALL) if p]
    assert "**Does not hold at this scale.**" in paras[2]
    v[SP]["tts_cer"] = 45.0
    assert "**Holds at this scale.**" in [p for p in findings.findings_lines(v, ALL) if p][2]


def test_findings_with_the_main_system_only_are_not_checked():
    v = {ST: {"asr_wer": 12.0, "asr_cer": 9.0, "s2st": 7.5, "ppl_cpt": 30.0}}
    paras = [p for p in findings.findings_lines(v, [ST]) if p]
    assert all("Not checked" in p for p in paras)
    assert "asr_wer: Speech & Text CPT 12.0" in paras[0]
    assert "the CPT system(s) converge (ASR-BLEU >= 5)" in paras[3]


def test_dual_finding_on_hand_made_numbers():
    st = {"asr_wer": 30.0, "asr_cer": 20.0, "s2tt_en_zh": 20.0, "s2tt_zh_en": 15.0,
          "tts_wer": 80.0, "tts_cer": 90.0, "s2st": 3.0}  # fmt: skip
    dual = dict(st, asr_wer=25.0, asr_cer=18.0, s2tt_en_zh=22.0, tts_wer=87.0, tts_cer=98.0)
    v = {ST: st, findings.DUAL: dual}
    para = [p for p in findings.findings_lines(v, [ST, findings.DUAL]) if p][-1]
    assert "asr_wer: Speech & Text CPT 30.0, DualSpeechLM 25.0" in para
    # better on all four understanding columns; TTS 87 <= 88 and 98 <= 99 (within 10%)
    assert "**Understanding: holds at this scale; TTS within 10%: holds at this scale.**" in para
    dual.update(s2tt_zh_en=14.0, tts_cer=100.0)  # one direction worse; CER 100 > 99
    para = [p for p in findings.findings_lines(v, [ST, findings.DUAL]) if p][-1]
    assert "**Understanding: does not hold at this scale; TTS within 10%: does not hold" in para
    para = [p for p in findings.findings_lines({ST: st}, [ST]) if p][-1]
    assert "Not checked: needs Speech & Text CPT and DualSpeechLM" in para


def test_goal_table():
    v = {"asr_wer": 14.0, "asr_cer": 12.5, "s2st": 20.0, "asr_target_lang": 100.0}
    v.update(s2tt_tl_en_zh=97.0, s2tt_tl_zh_en=100.0)
    lines = findings.goal_lines(v, ST)
    rows = {r.split("|")[1].strip(): r.split("|")[2:5] for r in lines if r.startswith("| ")}
    assert [c.strip() for c in rows["ASR WER, English (%)"]] == ["<= 30", "14.0", "yes"]
    assert [c.strip() for c in rows["ASR CER, Mandarin (%)"]] == ["<= 25", "12.5", "yes"]
    # the worst of ASR and both S2TT directions counts
    lang = rows["outputs in the target language, ASR and S2TT (%)"]
    assert [c.strip() for c in lang] == [">= 98", "97.0", "no"]
    assert [c.strip() for c in rows["S2TT BLEU, EN->ZH"]] == [">= 25", "-", "not run"]
    long = findings.goal_lines(v, ST, "long")
    rows = {r.split("|")[1].strip(): r.split("|")[2:5] for r in long if r.startswith("| ")}
    assert [c.strip() for c in rows["ASR CER, Mandarin (%)"]] == ["<= 8", "12.5", "no"]
    assert [c.strip() for c in rows["S2ST ASR-BLEU, EN->ZH (default: > 0)"]] == [
        ">= 15",
        "20.0",
        "yes",
    ]


def test_system_values_from_an_experiment_tree(tmp_path):
    from espnet_codec_lm.metrics.report import collect

    root = tmp_path / "exp"

    def lm_exp(name, system, stage, ppl):
        d = root / name
        d.mkdir(parents=True)
        (d / "system.yaml").write_text(yaml.safe_dump({"system": system, "stage": stage}))
        (d / "ppl.yaml").write_text(yaml.safe_dump({"text_ppl_init": 99.0, "text_ppl_final": ppl}))
        return d

    lm_exp("text_llm", None, "cpt", 20.0)
    lm_exp("lm_cpt_st", ST, "cpt", 24.0)
    sft = lm_exp("lm_sft_st", ST, "sft", 30.0)
    for name, scores in {
        "decode_asr_test": {"task": "asr", "wer": 11.0, "cer": 7.0},
        "decode_s2tt_test_en": {"task": "s2tt", "src_lang": "en", "tgt_lang": "zh", "bleu": 41.0},
        "decode_s2tt_test_zh": {"task": "s2tt", "src_lang": "zh", "tgt_lang": "en", "bleu": 33.0},
        "decode_tts_test": {"task": "tts", "wer": 20.0, "cer": 9.0, "spk_sim": "not computed: x"},
        "decode_s2st_test_en": {"task": "s2st", "src_lang": "en", "tgt_lang": "zh",
                                "asr_bleu": 21.5},
    }.items():  # fmt: skip
        (sft / name).mkdir()
        (sft / name / "scores.yaml").write_text(yaml.safe_dump(scores))
    v = findings.system_values(collect(root), root)[ST]
    assert v == {
        "asr_wer": 11.0,
        "asr_cer": 7.0,
        "s2tt_en_zh": 41.0,
        "s2tt_zh_en": 33.0,
        "tts_wer": 20.0,
        "tts_cer": 9.0,
        "s2st": 21.5,
        "ppl_text_llm": 20.0,
        "ppl_cpt": 24.0,
        "ppl_sft": 30.0,
    }


def test_loss_table_reads_the_last_validation_of_each_sft_run(tmp_path):

    def run(name, system, stage, entries):
        d = tmp_path / name
        d.mkdir()
        (d / "system.yaml").write_text(yaml.safe_dump({"system": system, "stage": stage}))
        (d / "valid_log.jsonl").write_text("".join(json.dumps(e) + "\n" for e in entries))

    run(
        "lm_sft_no_initialization",
        NI,
        "sft",
        [
            {"step": 0, "text_ppl": 9.0},  # the pre-training evaluation: no loss, skipped
            {"step": 150, "loss": 4.0, "loss/task/asr": 2.5, "loss/task/tts": 5.0},
            {"step": 300, "loss": 3.5, "loss/task/asr": 1.25, "loss/task/tts": 4.5},
        ],
    )
    run("lm_cpt_speech_cpt", SP, "cpt", [{"step": 9, "loss": 1.0, "loss/task/asr": 0.5}])
    lines = losses.loss_lines(tmp_path, [NI, SP])
    rows = [x for x in lines if x.startswith("| ") and "step" not in x]
    assert rows == [f"| {NI} | 300 | 1.250 | 4.500 | - | - |"]  # S2TT / S2ST: not validated
    # a CPT run is not a fine-tuned model: Speech CPT has no row
    assert losses.loss_lines(tmp_path / "none", [NI])[0].startswith("No fine-tuned")


def test_grouped_sft_runs_merge_each_task_from_the_run_that_trained_it(tmp_path):

    def run(name, tasks, entries, mtime):
        d = tmp_path / name
        d.mkdir()
        (d / "system.yaml").write_text(yaml.safe_dump({"system": ST, "stage": "sft"}))
        (d / "config.yaml").write_text(yaml.safe_dump({"stage": "sft", "data": {"tasks": tasks}}))
        (d / "valid_log.jsonl").write_text("".join(json.dumps(e) + "\n" for e in entries))
        os.utime(d / "system.yaml", (mtime, mtime))
        return d

    # an older joint run: replaced, task by task, by the two newer group runs
    run("lm_sft_st", ["asr", "tts", "s2tt", "s2st"], [{"step": 9, "loss": 9.0}], 100)
    gen = run(
        "lm_sft_tts_s2st_st",
        ["tts", "s2st"],
        # the generation run also reports an (untrained) ASR loss: not taken
        [{"step": 300, "loss": 4.0, "loss/task/tts": 4.25, "loss/task/asr": 7.0}],
        300,
    )
    und = run(
        "lm_sft_asr_s2tt_st",
        ["asr", "s2tt"],
        [{"step": 350, "loss": 1.0, "loss/task/asr": 0.5, "loss/task/s2tt": 1.5}],
        200,
    )
    assert losses.sft_runs(tmp_path)[ST] == [und, gen]  # the ASR run first
    rows = [x for x in losses.loss_lines(tmp_path, [ST]) if x.startswith(f"| {ST}")]
    assert rows == [f"| {ST} | 350+300 | 0.500 | 4.250 | 1.500 | - |"]
    plan = losses.sft_plan(tmp_path, ST)
    assert plan.startswith("**2 fine-tunings per system from the same CPT model**: ASR + S2TT and")
    # the joint run alone (the groups removed) is described as one joint SFT
    shutil.rmtree(gen)
    shutil.rmtree(und)
    assert losses.sft_plan(tmp_path, ST).startswith("**one joint multi-task SFT per system**")


def test_git_commit_ignores_the_files_the_report_writes(tmp_path):
    def git(*args):
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q")
    (tmp_path / "doc" / "mini_results").mkdir(parents=True)
    for f in ("RESULTS.md", "RESULTS_asr.png", "doc/mini_results/a.png", "run.sh"):
        (tmp_path / f).write_text("v1\n")
    git("add", "-A")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init")
    for f in ("RESULTS.md", "RESULTS_asr.png", "doc/mini_results/a.png"):
        (tmp_path / f).write_text("v2\n")  # a run's own outputs, rewritten
    assert not results.git_commit(tmp_path).endswith("local changes")
    (tmp_path / "run.sh").write_text("v2\n")
    assert results.git_commit(tmp_path).endswith(" + local changes")


def test_departure_lines_name_the_generation_settings(tmp_path):
    """RESULTS.md's small-data settings are read from the SFT runs' resolved configs: input
    noise and guided attention of the generation run, the prompt policy of both."""
    for name, extra in (
        (
            "lm_sft_asr_s2tt_st",
            {
                "data": {
                    "tasks": ["asr", "s2tt"],
                    "build": {"prompt_index": 0, "prompt_lang": "data"},
                }
            },
        ),
        (
            "lm_sft_tts_s2st_st",
            {
                "data": {"tasks": ["tts", "s2st"], "speech_target_noise": 0.5},
                "guided_attention": {
                    "weight": 3.0,
                    "sigma": 0.2,
                    "layers": [2],
                    "heads": [0, 1],
                    "tasks": ["tts"],
                },
            },  # fmt: skip
        ),
    ):
        d = tmp_path / name
        d.mkdir()
        (d / "system.yaml").write_text(yaml.safe_dump({"system": ST, "stage": "sft"}))
        (d / "config.yaml").write_text(yaml.safe_dump({"stage": "sft", **extra}))
    (line,) = results.departure_lines(tmp_path, ST)
    assert "tts/s2st SFT: each input code of the speech target replaced by a random code with " \
        "probability 0.5 (`speech_target_noise`; labels unchanged)" in line  # fmt: skip
    assert (
        "guided attention in tts SFT (`guided_attention`: weight 3.0, sigma 0.2, layers [2], "
        "heads [0, 1]; not in the paper)" in line
    )
    assert "SFT prompts: entry 0 of each task's bank in the utterance's language" in line
