"""Each corpus recipe's ``local/data.sh`` on the fake tree of its corpus: every set that its
``run.sh`` names comes out as a valid data directory; the CPT mix joins all of them."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml
from recipe_helpers import EGS, make_recipe_copy, run_sh

from espnet_codec_lm.data.data_dir import read_data_dir
from espnet_codec_lm.data.validate import validate_data_dir

# recipe: (db.sh variable, fake tree)
RECIPES = {
    "librispeech": ("LIBRISPEECH", "librispeech"),
    "aishell2": ("AISHELL2", "aishell2"),
    "libritts": ("LIBRITTS", "libritts"),
    "covost2": ("COVOST2", "covost2"),
    "gigas2s": ("GIGAS2S", "gigas2s"),
    "aishell1": ("AISHELL1", "aishell1"),
}
CPT_VARS = {
    "LIBRISPEECH": "librispeech",
    "AISHELL1": "aishell1",
    "AISHELL2": "aishell2",
    "AISHELL3": "aishell3",
    "WENETSPEECH": "wenetspeech",
    "GIGASPEECH": "gigas2s",
    "MLS_ENGLISH": "mls",
    "TEDLIUM3": "tedlium3",
    "COMMONVOICE": "covost2",
}


def run_sh_sets(recipe: str) -> list[str]:
    """The data sets a recipe's run.sh trains, validates and tests on."""
    text = (EGS / recipe / "codec_lm1" / "run.sh").read_text()
    sets = []
    for flag in ("train_set", "valid_set", "test_sets"):
        m = re.search(rf"--{flag} (\"[^\"]*\"|\S+)", text)
        assert m, f"{recipe}/run.sh: no --{flag}"
        sets += " ".join(shlex.split(m.group(1))).split()
    return sets


def _data_env(tmp: Path) -> dict:
    # db.sh must not see the caller's corpora: every variable empty unless set below
    names = ["LIBRISPEECH", "AISHELL1", "AISHELL2", "AISHELL3", "LIBRITTS", "COVOST2"]
    names += ["COMMONVOICE", "GIGASPEECH", "GIGAS2S", "WENETSPEECH", "MLS_ENGLISH", "TEDLIUM3"]
    return dict.fromkeys(names, "")


@pytest.mark.parametrize("recipe", sorted(RECIPES))
def test_local_data_sh_on_fake_tree(recipe, fake_trees, tmp_path):
    var, tree = RECIPES[recipe]
    rdir = make_recipe_copy(recipe, tmp_path / recipe / "codec_lm1")
    env = {**_data_env(tmp_path), var: str(fake_trees[tree])}
    res = run_sh(["local/data.sh", "--nj", "2"], rdir, env)
    assert res.returncode == 0, res.stdout[-3000:]
    for s in run_sh_sets(recipe):
        dd, problems = validate_data_dir(rdir / "data" / s, check_audio=True, nj=2)
        assert problems == [], [str(p) for p in problems]
        assert len(dd) > 0 and dd.text and dd.utt2lang
    # an unset corpus path is a one-line error, not a traceback
    res = run_sh(["local/data.sh"], rdir, _data_env(tmp_path))
    assert res.returncode != 0 and f"set {var} in db.sh" in res.stdout


def test_cpt_mix_joins_every_corpus(fake_trees, tmp_path):
    rdir = make_recipe_copy("cpt_mix", tmp_path / "cpt_mix" / "codec_lm1")
    env = {**_data_env(tmp_path), **{v: str(fake_trees[t]) for v, t in CPT_VARS.items()}}
    hook = tmp_path / "mt.py"
    hook.write_text(
        "def translate(texts, src, tgt):\n    return [f'[{src}->{tgt}] ' + t for t in texts]\n"
    )
    res = run_sh(
        [
            "local/data.sh",
            "--nj",
            "2",
            "translation.kind=python",
            f"translation.path={hook}:translate",
        ],
        rdir,
        env,
    )
    assert res.returncode == 0, res.stdout[-3000:]
    train = read_data_dir(rdir / "data" / "train")
    corpora = {u.split("-", 1)[0] for u in train.utt_ids}
    assert corpora == {"aishell1", "aishell2", "aishell3", "wenetspeech", "gigaspeech"} | {
        "librispeech", "mls", "tedlium3", "commonvoice"
    }  # fmt: skip
    listing = yaml.safe_load((rdir / "conf" / "cpt_mix.yaml").read_text())["train"]
    n_parts = sum(
        len(read_data_dir(rdir / "data" / c / d)) for c, ds in listing.items() for d in ds
    )
    assert n_parts == len(train)
    # every utterance got a translation into the other language through the MT hook
    for utt in train.utt_ids:
        other = "zh" if train.utt2lang[utt] == "en" else "en"
        assert (
            train.translations[other][utt] == f"[{train.utt2lang[utt]}->{other}] {train.text[utt]}"
        )
    for name in ("train", "dev"):
        _, problems = validate_data_dir(rdir / "data" / name, check_audio=True, nj=2)
        assert problems == [], [str(p) for p in problems]
    assert "librispeech" in (rdir / "data" / "mix_stats.yaml").read_text()
    # a corpus without a path is left out, not an error
    res = run_sh(["local/data.sh"], rdir, {**env, "MLS_ENGLISH": ""})
    assert res.returncode == 0 and "mls: no path in db.sh; left out" in res.stdout
