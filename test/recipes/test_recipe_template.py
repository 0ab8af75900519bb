"""The stage template (egs2/TEMPLATE/codec_lm1): option parsing, setup.sh, stage boundaries,
skipping finished work on a rerun, failures that say how to rerun, shellcheck, recipe configs."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from recipe_helpers import EGS, REPO, TEMPLATE, make_recipe_copy, run_sh

from espnet_codec_lm.data.espeak import espeak_available
from espnet_codec_lm.data.validate import validate_data_dir

BASH_OPTS = """
set -euo pipefail
stage=1
flag=true
name=none
help_message="usage: test"
. {utils}/parse_options.sh
echo "stage=$stage flag=$flag name=$name rest=$*"
"""


def _bash(script: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", "-c", script, "test.sh", *args], capture_output=True, text=True, timeout=30
    )


def test_parse_options(tmp_path):
    script = BASH_OPTS.format(utils=TEMPLATE / "utils")
    res = _bash(script, "--stage", "3", "--flag=false", "--name", "a b", "x=1", "y")
    assert res.returncode == 0 and res.stdout.strip() == "stage=3 flag=false name=a b rest=x=1 y"
    res = _bash(script, "--stop-stage", "2")  # unknown: an error, not a new variable
    assert res.returncode == 1 and "unknown option --stop_stage" in res.stderr
    res = _bash(script, "--flag", "yes")
    assert res.returncode == 1 and "--flag takes true or false" in res.stderr
    res = _bash(script, "--stage")
    assert res.returncode == 1 and "needs a value" in res.stderr
    assert _bash(script, "--help").stdout.strip() == "usage: test"
    conf = tmp_path / "opts.conf"
    conf.write_text("stage=7\nname=fromfile\n")
    res = _bash(script, "--config", str(conf), "--stage", "8")
    assert res.stdout.strip() == "stage=8 flag=true name=fromfile rest="


def test_setup_sh_links_and_repairs(tmp_path):
    d = tmp_path / "newcorpus" / "codec_lm1"
    res = subprocess.run([str(TEMPLATE / "setup.sh"), str(d)], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    for name in ("codec_lm.sh", "path.sh", "utils", "conf/codec", "conf/lm", "conf/decode"):
        assert (d / name).is_symlink(), name
    assert (d / "codec_lm.sh").resolve() == (TEMPLATE / "codec_lm.sh").resolve()
    assert (d / "cmd.sh").is_file() and not (d / "cmd.sh").is_symlink()
    for name in ("run.sh", "local/data.sh"):
        assert (d / name).stat().st_mode & 0o111
    # rerunning repairs a missing link and keeps the recipe's own edits
    (d / "path.sh").unlink()
    (d / "run.sh").write_text("#!/bin/bash\necho mine\n")
    subprocess.run([str(TEMPLATE / "setup.sh"), str(d)], check=True, capture_output=True)
    assert (d / "path.sh").is_symlink() and "mine" in (d / "run.sh").read_text()
    res = subprocess.run(
        [str(TEMPLATE / "setup.sh"), str(TEMPLATE)], capture_output=True, text=True
    )
    assert res.returncode == 1 and "template itself" in res.stderr
    # the skeleton data.sh fails loudly until it is written
    res = run_sh(["./codec_lm.sh", "--stop_stage", "1"], d)
    assert res.returncode == 1 and "write the data preparation" in res.stdout


def test_bad_options_are_one_line_errors(tmp_path):
    d = make_recipe_copy("librispeech", tmp_path / "ls" / "codec_lm1")
    res = run_sh(["./codec_lm.sh", "--stage_stop", "3"], d)
    assert res.returncode == 1 and "unknown option --stage_stop" in res.stdout
    res = run_sh(["./codec_lm.sh", "--cpt_mode", "text"], d)
    assert res.returncode == 1 and "--cpt_mode: speech, speech_text or none" in res.stdout
    res = run_sh(["./codec_lm.sh", "--help"], d)
    assert res.returncode == 0 and "Stage" in res.stdout and "--cpt_mode" in res.stdout
    # SFT groups: every task in exactly one group, and not with --sft_joint
    base = ["./codec_lm.sh", "--stop_stage", "0", "--tasks", "asr tts s2tt:en s2st"]
    res = run_sh([*base, "--sft_groups", "asr,s2tt tts"], d)
    assert res.returncode == 1 and 'groups "asr,s2tt tts": no group has the task s2st' in res.stdout
    res = run_sh([*base, "--sft_groups", "asr,s2tt tts,s2st,asr"], d)
    assert res.returncode == 1 and "task asr in two groups" in res.stdout
    res = run_sh([*base, "--sft_groups", "asr,s2tt tts,s2st", "--sft_joint", "true"], d)
    assert res.returncode == 1 and "exclude each other" in res.stdout
    assert run_sh([*base, "--sft_groups", "asr,s2tt tts,s2st"], d).returncode == 0


@pytest.fixture(scope="module")
def mini_recipe(tmp_path_factory):
    """A copy of the mini_bilingual recipe (tiny corpus) with stage 1 done."""
    if not espeak_available():
        pytest.skip("espeak-ng is not installed")
    d = make_recipe_copy("mini_bilingual", tmp_path_factory.mktemp("mini") / "codec_lm1")
    res = run_sh(["./codec_lm.sh", "--stop_stage", "1", "--local_data_opts", "--size tiny"], d)
    assert res.returncode == 0, res.stdout[-3000:]
    return d


def _mtimes(root: Path) -> dict[str, int]:
    return {str(p): p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file()}


def test_stage_boundaries_and_rerun(mini_recipe, tmp_path):
    d = mini_recipe
    tiny = ["--local_data_opts", "--size tiny"]
    assert (d / "data" / "train" / "wav.scp").is_file() and not (d / "dump").exists()
    # stage 2 alone: validated copies of the three sets, nothing of stage 3 and later
    res = run_sh(["./codec_lm.sh", "--stage", "2", "--stop_stage", "2", *tiny], d)
    assert res.returncode == 0, res.stdout[-3000:]
    for s in ("train", "dev", "test"):
        dd, problems = validate_data_dir(d / "dump" / "data" / s, check_audio=False)
        assert problems == [] and len(dd) > 0
    assert not (d / "exp").exists()
    assert "To run it again: ./codec_lm.sh --stage 2 --stop_stage 2" in res.stdout
    # stage 3 with a trained codec given: nothing to train
    codec = tmp_path / "codec"
    codec.mkdir()
    (codec / "config.yaml").write_text("model: {}\n")
    res = run_sh(
        ["./codec_lm.sh", "--stage", "3", "--stop_stage", "3", "--codec_dir", str(codec)], d
    )
    assert res.returncode == 0 and "using the trained codec" in res.stdout
    assert not (d / "exp" / "codec_debug").exists()
    # a rerun of stages 1-2 skips every step and touches no file
    before = _mtimes(d / "dump") | _mtimes(d / "data")
    res = run_sh(["./codec_lm.sh", "--stop_stage", "2", *tiny], d)
    assert res.returncode == 0, res.stdout[-3000:]
    assert res.stdout.count("done already") == 4  # data.sh + 3 sets
    assert _mtimes(d / "dump") | _mtimes(d / "data") == before
    # a changed command runs again: a duration filter drops the long training utterances
    conf = d / "conf" / "short.yaml"
    conf.write_text("max_duration: 2.5\n")
    res = run_sh(
        ["./codec_lm.sh", "--stage", "2", "--stop_stage", "2", "--filter_config", str(conf)], d
    )
    assert res.returncode == 0 and res.stdout.count("the command changed") == 2  # train, dev
    filtered = (d / "dump" / "data" / "train" / "filtered_utts").read_text().splitlines()
    assert filtered and all("duration" in line for line in filtered)
    assert (d / "dump" / "data" / "test" / "filtered_utts").read_text() == ""  # tests unfiltered
    # stage 10 alone: the report of whatever is under exp/
    res = run_sh(["./codec_lm.sh", "--stage", "10"], d)
    assert res.returncode == 0 and (d / "RESULTS.md").read_text().startswith("# Results")


def test_failed_step_says_how_to_rerun(mini_recipe, tmp_path):
    d = tmp_path / "broken" / "codec_lm1"
    make_recipe_copy("mini_bilingual", d)
    shutil.copytree(mini_recipe / "data" / "dev", d / "data" / "dev")
    (d / "data" / "dev" / "utt2spk").unlink()  # a required file missing: no --skip_bad saves it
    res = run_sh(
        ["./codec_lm.sh", "--stage", "2", "--stop_stage", "2", "--train_set", "dev",
         "--valid_set", "dev", "--test_sets", ""],
        d,
    )  # fmt: skip
    assert res.returncode == 1
    assert "stage 2 failed; see dump/data/log/validate_dev.log" in res.stdout
    assert "rerun: ./codec_lm.sh --stage 2 --stop_stage 2" in res.stdout
    assert not (d / "dump" / "data" / ".dev.done").exists()
    assert "utt2spk: missing" in (d / "dump" / "data" / "log" / "validate_dev.log").read_text()


def test_shellcheck_clean():
    exe = shutil.which("shellcheck") or str(REPO / "tools" / "venv" / "bin" / "shellcheck")
    if not Path(exe).exists():
        pytest.skip("shellcheck is not installed")
    scripts = sorted(
        str(p)
        for p in EGS.rglob("*.sh")
        if not p.is_symlink() and not any(q.is_symlink() for q in p.parents)
    )
    assert len(scripts) >= 20
    res = subprocess.run([exe, "-x", *scripts], capture_output=True, text=True, cwd=REPO)
    assert res.returncode == 0, res.stdout[-3000:]


def test_template_is_short_and_has_every_stage():
    text = (TEMPLATE / "codec_lm.sh").read_text()
    assert len(text.splitlines()) < 600
    for n in range(1, 11):
        assert f"stage_on {n} " in text
    for flag in ("stage", "stop_stage", "nj", "ngpu", "expdir", "dumpdir", "codec_config",
                 "lm_config", "base_llm", "init", "cpt_mode", "tasks", "test_sets", "codec_dir"):  # fmt: skip
        assert f"\n{flag}=" in text, flag


# ---------------------------------------------------------------------- recipe config files
def _options_class(recipe: str, name: str):
    import importlib

    from espnet_codec_lm.bin.validate_data_dir import ValidateConfig
    from espnet_codec_lm.metrics.config import ScoringConfig

    if name == "filter.yaml":
        return ValidateConfig
    if name == "score.yaml":
        return ScoringConfig
    corpus = name[len("prepare_") : -5] if name.startswith("prepare_") else recipe
    corpus = "cpt_mix" if name == "cpt_mix.yaml" else corpus
    module = importlib.import_module(f"espnet_codec_lm.data.corpora.{corpus}")
    classes = [v for k, v in vars(module).items() if k.endswith("Options") and isinstance(v, type)]
    return next(c for c in classes if c.__module__ == module.__name__)


RECIPE_CONFS = sorted(
    p
    for p in EGS.glob("*/codec_lm1/conf/*.yaml")
    if not p.is_symlink() and p.parts[-4] != "TEMPLATE"
)


@pytest.mark.parametrize("path", RECIPE_CONFS, ids=lambda p: f"{p.parts[-4]}/{p.name}")
def test_recipe_config_loads(path):
    from espnet_codec_lm.config import load_config

    cls = _options_class(path.parts[-4], path.name)
    cfg = load_config(cls, path)
    assert yaml.safe_load(path.read_text())  # not empty
    assert cfg is not None


def test_stage5_picks_the_tokenizer(tmp_path):
    d = make_recipe_copy("librispeech", tmp_path / "ls" / "codec_lm1")
    five = ["./codec_lm.sh", "--stage", "5", "--stop_stage", "5"]
    res = run_sh([*five, "--cpt_mode", "none", "--init", str(tmp_path / "ckpt")], d)
    assert res.returncode == 0 and "the tokenizer saved with" in res.stdout
    res = run_sh([*five, "--base_llm", str(tmp_path / "qwen")], d)
    assert res.returncode == 0 and "the base LLM's own tokenizer" in res.stdout
    res = run_sh([*five, "--text_tokenizer", str(tmp_path / "nowhere")], d)
    assert res.returncode == 1 and "nowhere: not found" in res.stdout


@pytest.mark.parametrize(
    "recipe", sorted(p.parent.name for p in EGS.glob("*/codec_lm1") if p.parent.name != "TEMPLATE")
)
def test_run_sh_options_are_valid(recipe, tmp_path):
    """Each run.sh passes only options codec_lm.sh knows, with db.sh variables defined (set -u):
    with --stop_stage 0 it parses everything, derives its settings and runs no stage."""
    d = make_recipe_copy(recipe, tmp_path / recipe / "codec_lm1")
    res = run_sh(["./run.sh", "--stop_stage", "0"], d)
    assert res.returncode == 0, res.stdout[-2000:]
    assert "Finished stages" in res.stdout and "==== Stage" not in res.stdout
