"""bin/pack: one directory with the LM, the codec, decode configs and a model card, loadable by
path through the inference API and bin/infer; and a pack of several models (one per group of
tasks, tasks.yaml), loadable by the one path with the task named."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from espnet_codec_lm.bin.pack import main as pack_main
from espnet_codec_lm.bin.pack import pack


def test_pack_loads_by_path_and_decodes_like_the_experiment(lm_exp, tmp_path):
    from espnet_codec_lm.inference import SpeechLMInference

    exp = tmp_path / "exp"
    exp.mkdir()
    (exp / "model").symlink_to(lm_exp / "model")
    (exp / "codec").symlink_to(lm_exp / "codec")
    (exp / "config.yaml").write_text(
        yaml.safe_dump({"system": "Speech & Text CPT", "stage": "sft", "data": {"tasks": ["asr"]}})
    )
    scored = exp / "decode_asr_test"
    scored.mkdir()
    scores = {"task": "asr", "test_set": "test", "src_lang": "en", "tgt_lang": "en"}
    scores.update(num_utts=10, wer=12.5, target_lang=100.0, utmos="not computed: no model")
    (scored / "scores.yaml").write_text(yaml.safe_dump(scores))
    conf = tmp_path / "decode_asr.yaml"
    conf.write_text("task: asr\ndecoding: {text: {method: greedy, max_len_cap: 5}}\n")
    out = pack(exp, tmp_path / "pack", decode_configs=[str(conf)], name="tiny")
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "codec", "decode", "model"]
    card = (out / "README.md").read_text()
    assert card.startswith("---\nlicense: apache-2.0") and "# tiny" in card
    assert "| asr | test | en->en | 10 | WER (%) | 12.50 |" in card
    assert "not computed: no model" in card
    from espnet_codec_lm.config import load_config
    from espnet_codec_lm.decode.config import LMDecodeConfig

    cfg = load_config(LMDecodeConfig, out / "decode" / "asr.yaml")
    wav = np.random.default_rng(0).standard_normal(8000).astype(np.float32) * 0.1
    packed = SpeechLMInference(out, config=cfg).asr(wav, 16000)
    original = SpeechLMInference(lm_exp, config=cfg).asr(wav, 16000)
    assert packed == original
    # a rerun replaces the pack whole; --link_codec links the codec relatively; bad input is one line
    pack(exp, tmp_path / "pack", name="again", link_codec=True)
    assert "# again" in (out / "README.md").read_text() and not (out / "decode").exists()
    assert (out / "codec").is_symlink() and not (out / "codec").readlink().is_absolute()
    assert SpeechLMInference(out, config=cfg).asr(wav, 16000) == original
    assert (
        pack_main(
            ["--exp", str(exp), "--out", str(tmp_path / "p2"), "--decode_config", "nope.yaml"]
        )
        == 1
    )


def test_pack_of_a_missing_experiment_is_one_line(tmp_path, capsys):
    assert pack_main(["--exp", str(tmp_path / "none"), "--out", str(tmp_path / "p")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("pack: error:") and err.count("\n") == 1
    assert not (tmp_path / "p").exists()


def test_infer_takes_the_pack_decode_config(lm_exp, tmp_path, capsys):
    """bin/infer on a pack uses <pack>/decode/<task>.yaml unless --config is given."""
    import soundfile as sf

    from espnet_codec_lm.bin.infer import main as infer_main

    exp = tmp_path / "exp"
    exp.mkdir()
    (exp / "model").symlink_to(lm_exp / "model")
    (exp / "codec").symlink_to(lm_exp / "codec")
    conf = tmp_path / "decode_asr.yaml"
    conf.write_text("task: asr\ndecoding: {text: {method: greedy, max_len_cap: 1}}\n")
    out = pack(exp, tmp_path / "pack", decode_configs=[str(conf)])
    wav = tmp_path / "in.wav"
    sf.write(wav, np.random.default_rng(1).standard_normal(8000).astype(np.float32) * 0.1, 16000)
    texts = []
    for extra in ([], ["--config", str(tmp_path / "other.yaml")]):
        (tmp_path / "other.yaml").write_text("task: asr\ndecoding: {text: {method: greedy}}\n")
        txt = tmp_path / f"out{len(extra)}.txt"
        assert (
            infer_main(
                ["--task", "asr", "--lm", str(out), "--wav", str(wav), "--out", str(txt)] + extra
            )
            == 0
        )
        texts.append(txt.read_text(encoding="utf-8").strip())
    # the pack's config allows one token (at most one character, a lone byte shows as one);
    # --config wins
    assert len(texts[0]) <= 1 < len(texts[1])


# --- a pack of several models (one fine-tuning run per group of tasks) ------------------------
def _scored_exp(root, lm_exp, name: str, tasks: list[str]):
    """An experiment of the tiny LM with a scored decode directory per task."""
    exp = root / name
    exp.mkdir()
    (exp / "model").symlink_to(lm_exp / "model")
    (exp / "codec").symlink_to(lm_exp / "codec")
    cfg = {"system": "Speech & Text CPT", "stage": "sft", "data": {"tasks": tasks}}
    cfg["data"]["speech_sets"] = [{"data_dir": "dump/data/train"}]
    (exp / "config.yaml").write_text(yaml.safe_dump(cfg))
    for task in tasks:
        (exp / f"decode_{task}_test").mkdir()
        scores = {"task": task, "test_set": "test", "src_lang": "en", "tgt_lang": "zh"}
        scores.update(num_utts=10, wer=50.0)
        (exp / f"decode_{task}_test" / "scores.yaml").write_text(yaml.safe_dump(scores))
    return exp


@pytest.fixture
def two_runs(lm_exp, tmp_path):
    """``(asr + s2tt run, tts + s2st run, decode configs of asr, tts and s2st)``."""
    runs = (
        _scored_exp(tmp_path, lm_exp, "lm_sft_asr_s2tt_x", ["asr", "s2tt"]),
        _scored_exp(tmp_path, lm_exp, "lm_sft_tts_s2st_x", ["s2st", "tts"]),
    )
    confs = []
    for task, body in [
        ("asr", "decoding: {text: {method: greedy, max_len_cap: 1}}"),
        ("tts", "decoding: {speech: {method: greedy, max_len_cap: 5}}"),
        ("s2st", "decoding: {speech: {method: greedy, max_len_cap: 3}}"),
    ]:
        confs.append(tmp_path / f"decode_{task}.yaml")
        confs[-1].write_text(f"task: {task}\n{body}\n")
    return (*runs, [str(c) for c in confs])


def test_pack_of_several_models_maps_each_task_to_its_model(two_runs, lm_exp, tmp_path):
    from espnet_codec_lm.inference import (
        InferenceError,
        SpeechLMInference,
        lm_for_task,
        task_config,
    )

    a, b, confs = two_runs
    out = pack([a, b], tmp_path / "pack", decode_configs=confs, name="two runs")
    names = ["README.md", "asr_s2tt", "codec", "tasks.yaml", "tts_s2st"]
    assert sorted(p.name for p in out.iterdir()) == names
    tasks = yaml.safe_load((out / "tasks.yaml").read_text())
    assert tasks == {"asr": "asr_s2tt", "s2tt": "asr_s2tt", "tts": "tts_s2st", "s2st": "tts_s2st"}
    for sub, decode in [("asr_s2tt", ["asr.yaml"]), ("tts_s2st", ["s2st.yaml", "tts.yaml"])]:
        assert sorted(p.name for p in (out / sub).iterdir()) == ["codec", "decode", "model"]
        assert sorted(p.name for p in (out / sub / "decode").iterdir()) == decode
        assert (out / sub / "codec").readlink().as_posix() == "../codec"
    assert not (out / "codec").is_symlink() and (out / "codec" / "model.safetensors").is_file()
    card = (out / "README.md").read_text()
    assert card.count("\n# two runs\n") == 1 and card.count("## Metrics") == 1
    assert "`asr_s2tt/`" in card and "`tts_s2st/`" in card and 'task="asr"' in card
    for row in ("| asr | test | en->zh | 10 | WER (%) | 50.00 |", "| s2st | test | en->zh | 10 |"):
        assert row in card
    # each task loads its own model with its own decode config; without the task: one line
    assert lm_for_task(out, "s2st") == out / "tts_s2st" and lm_for_task(lm_exp, "tts") == lm_exp
    assert task_config(out, "asr").decoding.text.max_len_cap == 1
    assert task_config(out, "s2st").decoding.speech.max_len_cap == 3
    tts = SpeechLMInference(out, config=task_config(out, "tts"), task="tts")
    assert tts.checkpoint == out / "tts_s2st" / "model"
    assert tts.codec_dir == out / "tts_s2st" / "codec"
    prompt = np.random.default_rng(2).standard_normal(24000).astype(np.float32) * 0.1
    assert 0 < len(tts.tts("the cat sat.", prompt, 16000)) <= 5 * 320
    with pytest.raises(InferenceError, match=r"pack: a pack of several models .*name the task"):
        SpeechLMInference(out)
    with pytest.raises(InferenceError, match=r"tasks.yaml: no model for task 't2st'") as e:
        lm_for_task(out, "t2st")
    assert "\n" not in str(e.value)
    # --link_codec: the shared codec is the link, the models' links go through it
    pack([a, b], out, codec=lm_exp / "codec", link_codec=True)
    assert (out / "codec").is_symlink() and not (out / "codec").readlink().is_absolute()
    asr = SpeechLMInference(out, task="asr")
    assert asr.checkpoint == out / "asr_s2tt" / "model"
    assert asr.codec_dir.resolve() == (lm_exp / "codec").resolve()


def test_bin_infer_and_the_demo_load_the_tasks_model(two_runs, tmp_path, monkeypatch, capsys):
    """bin/infer --task picks the model (and decode config) of the task; the demo loads each
    model once; the recipe's ASR recognizer takes a pack too."""
    import soundfile as sf

    from espnet_codec_lm import inference
    from espnet_codec_lm.bin.demo import DemoApp
    from espnet_codec_lm.bin.infer import main as infer_main
    from espnet_codec_lm.inference import load_recognizer

    loaded = []

    class Recording(inference.SpeechLMInference):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            loaded.append(self.checkpoint)

    monkeypatch.setattr(inference, "SpeechLMInference", Recording)
    a, b, confs = two_runs
    out = tmp_path / "pack"
    args = ["--exp", str(a), "--exp", str(b), "--out", str(out)]
    assert pack_main(args + [x for c in confs for x in ("--decode_config", c)]) == 0
    assert capsys.readouterr().out.startswith(f"pack: {out} (")
    rng = np.random.default_rng(1)
    wav = tmp_path / "in.wav"
    sf.write(wav, rng.standard_normal(24000).astype(np.float32) * 0.1, 16000)
    assert infer_main(["--task", "asr", "--lm", str(out), "--wav", str(wav)]) == 0
    assert len(capsys.readouterr().out.strip()) <= 1  # the asr model's config: one token
    y = tmp_path / "y.wav"
    tts = ["--task", "tts", "--lm", str(out), "--text", "hi.", "--prompt_wav", str(wav)]
    assert infer_main([*tts, "--out", str(y)]) == 0
    assert 0 < len(sf.read(y)[0]) <= 5 * 320  # the tts model's config: at most 5 frames
    assert loaded == [out / "asr_s2tt" / "model", out / "tts_s2st" / "model"]

    loaded.clear()
    app = DemoApp(out, out_dir=tmp_path / "demo")
    assert loaded == [out / "asr_s2tt" / "model", out / "tts_s2st" / "model"]
    assert app.systems["asr"].model is app.systems["s2tt"].model
    assert app.systems["tts"].model is app.systems["s2st"].model is not app.systems["asr"].model
    assert app.systems["s2st"].config.decoding.speech.max_len_cap == 3
    assert len(app.asr((16000, sf.read(wav, dtype="float32")[0]), "en").text) <= 1
    assert load_recognizer(out).checkpoint == out / "asr_s2tt" / "model"


@pytest.mark.parametrize(
    "runs, configs, match",
    [
        (
            [["asr", "s2tt"], ["asr", "tts"]],
            [],
            "task asr is scored by two experiments: .*r0, .*r1",
        ),
        ([["asr"], ["tts"]], ["s2tt"], "decode_s2tt.yaml: decode config of task s2tt, which no"),
        ([["asr"], []], [], "r1: no scored decode directory, so no task to pack it for"),
    ],
)
def test_pack_of_several_models_errors_are_one_line(lm_exp, tmp_path, capsys, runs, configs, match):
    import re

    exps = [_scored_exp(tmp_path, lm_exp, f"r{i}", tasks) for i, tasks in enumerate(runs)]
    args = ["--out", str(tmp_path / "p")] + [x for e in exps for x in ("--exp", str(e))]
    for task in configs:
        (tmp_path / f"decode_{task}.yaml").write_text(f"task: {task}\n")
        args += ["--decode_config", str(tmp_path / f"decode_{task}.yaml")]
    assert pack_main(args) == 1
    err = capsys.readouterr().err
    assert err.startswith("pack: error:") and err.count("\n") == 1 and re.search(match, err), err
    assert not (tmp_path / "p").exists()
