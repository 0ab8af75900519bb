"""Scoring and reports: a metric whose model is missing reads ``not computed: <reason>``; a
planted pickle as a model is refused; broken decode directories and score files are one-line
errors; rescoring or re-reporting after success changes nothing."""

from __future__ import annotations

import shutil

import pytest
import yaml
from rel_helpers import (
    assert_one_line_error,
    assert_unchanged,
    call_main,
    plant,
    replace_line,
    tree_hashes,
)

FAST = ["decoding.text.max_len_cap=6", "decoding.speech.max_len_cap=8", "decoding.batch_size=3"]


@pytest.fixture(scope="module")
def decoded(tmp_path_factory, lm_exp, test_set):
    """``{task: decode dir}`` for ASR (text) and TTS (speech, 2 samples) on the test set."""
    data, codes = test_set
    root = tmp_path_factory.mktemp("rel_decoded")
    out = {}
    for task, extra in (("asr", []), ("tts", ["decoding.speech.num_samples=2",
                                              "speaker_prompt_s=0.2"])):  # fmt: skip
        d = root / "exp" / f"decode_{task}_test"
        res = call_main("lm_decode", "--data_dir", data, "--codes", codes, "--lm", lm_exp,
                        "--out_dir", d, *FAST, f"task={task}", *extra)  # fmt: skip
        assert res.rc == 0, res.text
        out[task] = d
    return out


@pytest.fixture(scope="module")
def system_yaml(tmp_path_factory, tiny_base):
    """The ``system.yaml`` a real ``lm_train`` run writes (one step of a tiny model)."""
    from rel_helpers import write_yaml

    root = tmp_path_factory.mktemp("rel_system")
    cfg = write_yaml(
        root / "train.yaml",
        {
            "system": "Speech & Text CPT",
            "model": {"init": "text_llm", "base_llm": str(tiny_base), "codebook_size": 16},
            "data": {"kind": "synthetic", "epoch_size": 2, "max_example": 16},
            "batch": {"global_sequences": 1, "micro_batch": 1, "max_len": 32},
            "stop": {"max_steps": 1},
            "log": {"tensorboard": False},
        },
    )
    res = call_main("lm_train", "--config", cfg, "--exp_dir", root / "exp")
    assert res.rc == 0, res.text
    return root / "exp" / "system.yaml"


def _copy(src, tmp_path, system_yaml=None):
    """The decode dir inside ``tmp_path/exp/`` (with lm_train's system.yaml when given)."""
    dst = tmp_path / "exp" / src.name
    shutil.copytree(src, dst)
    if system_yaml is not None:
        shutil.copy(system_yaml, dst.parent / "system.yaml")
    return dst


def _scores(d) -> dict:
    return yaml.safe_load((d / "scores.yaml").read_text(encoding="utf-8"))


def test_missing_models_read_not_computed(tmp_path, decoded):
    d = _copy(decoded["tts"], tmp_path)
    res = call_main("score", "--decode_dir", d, "mos.path=" + str(tmp_path / "no_utmos.pt"))
    assert res.rc == 0, res.text
    s = _scores(d)
    reasons = {k: v for k, v in s.items() if isinstance(v, str) and v.startswith("not computed")}
    assert len(reasons) >= 3, s  # ASR-based WER/CER, speaker similarity, UTMOS
    assert any("no_utmos.pt" in v for v in reasons.values()), reasons
    assert all("\n" not in v for v in reasons.values())


def test_pickle_planted_as_mos_model(tmp_path, decoded):
    d = _copy(decoded["tts"], tmp_path)
    marker = tmp_path / "pwned"
    evil = plant(tmp_path / "utmos22_strong_step7459_v1.pt", marker)
    res = call_main("score", "--decode_dir", d, f"mos.path={evil}")
    assert not marker.exists()
    assert "Traceback" not in res.text
    if res.rc == 0:  # refused model -> the metric is not computed, naming the file
        s = _scores(d)
        assert any(isinstance(v, str) and "not computed" in v and str(evil) in v
                   for v in s.values()), s  # fmt: skip
    else:
        assert_one_line_error(res, str(evil))


def test_decode_dir_without_meta(tmp_path, decoded):
    d = _copy(decoded["asr"], tmp_path)
    (d / "meta.yaml").unlink()
    before = tree_hashes(tmp_path)
    res = call_main("score", "--decode_dir", d)
    assert_one_line_error(res, str(d))
    assert_unchanged(before, tree_hashes(tmp_path))


def test_hypothesis_file_not_utf8(tmp_path, decoded):
    d = _copy(decoded["asr"], tmp_path)
    utt = (d / "text").read_text(encoding="utf-8").split()[0]
    replace_line(d / "text", utt, f"{utt} caf\xe9\n".encode("latin-1"))
    before = tree_hashes(tmp_path)
    res = call_main("score", "--decode_dir", d)
    assert_one_line_error(res, str(d / "text"))
    assert_unchanged(before, tree_hashes(tmp_path))


def test_rescore_and_report_after_success_change_nothing(tmp_path, decoded, system_yaml):
    d = _copy(decoded["asr"], tmp_path, system_yaml)
    assert call_main("score", "--decode_dir", d).rc == 0
    results = tmp_path / "RESULTS.md"
    res = call_main("report", "--exp_root", tmp_path / "exp", "--output", results)
    assert res.rc == 0, res.text
    assert "Speech & Text CPT" in results.read_text(encoding="utf-8")  # lm_train's system name
    before = tree_hashes(tmp_path)
    assert call_main("score", "--decode_dir", d).rc == 0
    assert call_main("report", "--exp_root", tmp_path / "exp", "--output", results).rc == 0
    assert_unchanged(before, tree_hashes(tmp_path))


def test_report_with_malformed_scores(tmp_path, decoded, system_yaml):
    d = _copy(decoded["asr"], tmp_path, system_yaml)
    assert call_main("score", "--decode_dir", d).rc == 0
    results = tmp_path / "RESULTS.md"
    assert call_main("report", "--exp_root", tmp_path / "exp", "--output", results).rc == 0
    (d / "scores.yaml").write_text("wer: [1, 2\n", encoding="utf-8")
    before = tree_hashes(tmp_path)
    res = call_main("report", "--exp_root", tmp_path / "exp", "--output", results)
    assert_one_line_error(res, str(d / "scores.yaml"))
    assert_unchanged(before, tree_hashes(tmp_path))
