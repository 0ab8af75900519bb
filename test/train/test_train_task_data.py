"""The trainer on the real task pipeline (espnet_codec_lm.tasks) over a synthetic corpus."""

from __future__ import annotations

import json

import pytest
import yaml
from train_helpers import train_in_process

from espnet_codec_lm.config import ConfigError, config_from_dict
from espnet_codec_lm.train.logger import read_log


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    from espnet_codec_lm.testing.synthetic import make_synthetic_corpus

    root = tmp_path_factory.mktemp("corpus")
    make_synthetic_corpus(
        root, speakers_per_lang=2, utts_per_speaker=4, n_text=10, n_mt=10, codebook_size=16
    )
    return root


def _config(tmp_path, corpus, stage="cpt", **data):
    speech = {
        "data_dir": str(corpus / "train"),
        "codes": str(corpus / "codes/train/codes.scp"),
        "codes_tgt": str(corpus / "codes/train/codes_tgt.scp"),
    }
    cfg = {
        "system": "Speech & Text CPT",
        "stage": stage,
        "model": {
            "init": "none",
            "tokenizer": str(corpus / "tokenizer"),
            "codebook_size": 16,
            "arch": {
                "hidden_size": 32,
                "num_hidden_layers": 2,
                "num_attention_heads": 4,
                "num_key_value_heads": 2,
                "intermediate_size": 64,
            },
        },
        "data": {
            "kind": "tasks",
            "speech_sets": [speech],
            "text_pools": [str(corpus / "text_pool/general.en")],
            "mt_pools": [str(corpus / "text_pool/mt.en-zh.tsv")],
            "valid_speech_sets": [speech],
            "valid_batches": 2,
            **data,
        },
        "optim": {"lr": 3e-3, "warmup_steps": 1},
        "batch": {"global_sequences": 4, "micro_batch": 2, "max_len": 256},
        "stop": {"max_steps": 3},
        "checkpoint": {"every_steps": 100},
        "eval": {"every_steps": 0, "text_ppl_file": str(corpus / "text_pool/general.zh")},
        "log": {"tensorboard": False},
    }
    path = tmp_path / "train.yaml"
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    return path


def test_cpt_on_the_task_mixture_logs_real_task_names(tmp_path, corpus):
    train_in_process(_config(tmp_path, corpus), tmp_path / "exp")
    rows = read_log(tmp_path / "exp" / "train_log.jsonl")
    assert [r["step"] for r in rows] == [1, 2, 3]
    tasks = {k[len("loss/task/") :] for r in rows for k in r if k.startswith("loss/task/")}
    from espnet_codec_lm.tasks.templates import TASK_NAMES

    assert tasks <= set(TASK_NAMES) and len(tasks) >= 3  # the mixture's tasks, by name
    valid = read_log(tmp_path / "exp" / "valid_log.jsonl")
    assert valid[-1]["step"] == 3 and any(k.startswith("loss/task/") for k in valid[-1])
    state = yaml.safe_load((tmp_path / "exp" / "ppl.yaml").read_text())
    assert state["text_ppl_tokens"] > 0


def test_cpt_mixture_without_a_source_fails_unless_dropped_on_purpose(tmp_path, corpus):
    """No MT pool: the run stops before any step; with data.drop_tasks [mt] it trains, and the
    mixture as trained (shares, what was left out) reaches system.yaml and RESULTS.md."""
    from espnet_codec_lm.metrics.report import render

    with pytest.raises(ValueError, match="no data for mt .*data.drop_tasks"):
        train_in_process(_config(tmp_path, corpus, mt_pools=[]), tmp_path / "bad")
    assert not (tmp_path / "bad" / "checkpoints").exists()
    exp = tmp_path / "exp" / "lm_cpt_x"
    train_in_process(_config(tmp_path, corpus, mt_pools=[], drop_tasks=["mt"]), exp)
    mix = yaml.safe_load((exp / "system.yaml").read_text())["cpt_mixture"]
    assert mix["dropped"] == ["mt"] and "mt" not in mix["shares"]
    assert sum(mix["shares"].values()) == pytest.approx(1.0, abs=1e-3)
    assert mix["shares"]["asr"] == pytest.approx(0.15 / 0.95, abs=1e-4)
    text = render(tmp_path / "exp", tmp_path / "RESULTS.md", plots=False)
    line = next(x for x in text.splitlines() if x.startswith("- Speech & Text CPT (`lm_cpt_x`)"))
    assert "asr 0.16" in line and line.endswith("left out on purpose: mt")


def test_sft_asr_trains_only_asr(tmp_path, corpus):
    train_in_process(_config(tmp_path, corpus, stage="sft", tasks=["asr"]), tmp_path / "exp")
    rows = read_log(tmp_path / "exp" / "train_log.jsonl")
    assert {k for r in rows for k in r if k.startswith("loss/task/")} == {"loss/task/asr"}


def test_data_section_cannot_contradict_the_trainer(tmp_path, corpus):
    with pytest.raises(ConfigError, match="data.max_len=128 conflicts"):
        train_in_process(_config(tmp_path, corpus, max_len=128), tmp_path / "exp")


def test_decode_monitor_scores_decoded_dev_utterances(tmp_path, corpus):
    """eval.decode_every_steps: greedy decoding of the first utterances per language, scored
    with the toolkit's metrics (recomputed here from the written hypotheses), every 2 steps and
    at the end, with the wall time of training in each row."""
    import json

    from espnet_codec_lm.metrics.normalize import TextNormalizer
    from espnet_codec_lm.metrics.text import bleu, error_rate_for_lang

    cfg = _config(tmp_path, corpus, stage="sft", tasks=["asr", "s2tt"])
    data = yaml.safe_load(cfg.read_text())
    data["stop"]["max_steps"] = 4
    data["eval"].update(decode_every_steps=2, decode_tasks=["asr", "s2tt"], decode_utts=2)
    cfg.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    train_in_process(cfg, tmp_path / "exp")
    valid = read_log(tmp_path / "exp" / "valid_log.jsonl")
    scored = [r for r in valid if "dev_asr_wer_en" in r]
    assert [r["step"] for r in scored] == [2, 4]
    assert 0 < scored[0]["elapsed_s"] < scored[1]["elapsed_s"]
    records = [
        json.loads(line)
        for line in (tmp_path / "exp" / "decode_monitor.jsonl").read_text().splitlines()
    ]
    last = [r for r in records if r["step"] == 4]
    assert len(last) == 8  # 2 tasks x 2 languages x 2 utterances
    norm = TextNormalizer()
    for lang, unit in (("en", "wer"), ("zh", "cer")):
        asr = [r for r in last if r["task"] == "asr" and r["tgt_lang"] == lang]
        want = error_rate_for_lang(
            [norm(r["ref"], lang) for r in asr], [norm(r["hyp"], lang) for r in asr], lang
        ).rate
        assert scored[1][f"dev_asr_{unit}_{lang}"] == pytest.approx(want, abs=0.01)
        s2tt = [r for r in last if r["task"] == "s2tt" and r["tgt_lang"] == lang]
        want_bleu = bleu([r["hyp"] for r in s2tt], [r["ref"] for r in s2tt], lang).score
        assert scored[1][f"dev_s2tt_bleu_{lang}"] == pytest.approx(want_bleu, abs=0.01)
        assert 0 <= scored[1][f"dev_asr_target_lang_{lang}"] <= 1


def test_decode_monitor_tts_text_gain(tmp_path, corpus):
    """decode_tasks [tts]: each dev utterance teacher-forced with its own and another transcript;
    the gain per language is the mean difference of the written per-utterance losses, and the
    losses are the main head's NLL over the target (recomputed here for one utterance)."""
    import json

    import numpy as np

    cfg = _config(tmp_path, corpus, stage="sft", tasks=["tts"])
    data = yaml.safe_load(cfg.read_text())
    data["stop"]["max_steps"] = 2
    data["batch"]["max_len"] = 512
    data["data"]["build"] = {"sft_speaker_prompt_s": 0.5}
    data["eval"].update(decode_every_steps=2, decode_tasks=["tts"], decode_utts=2)
    cfg.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    train_in_process(cfg, tmp_path / "exp")
    last = read_log(tmp_path / "exp" / "valid_log.jsonl")[-1]
    records = [
        json.loads(line)
        for line in (tmp_path / "exp" / "decode_monitor.jsonl").read_text().splitlines()
    ]
    assert {r["task"] for r in records} == {"tts"} and len(records) == 4  # 2 langs x 2 utts
    for lang in ("en", "zh"):
        rs = [r for r in records if r["tgt_lang"] == lang]
        right = np.mean([r["loss"] for r in rs])
        wrong = np.mean([r["loss_wrong_text"] for r in rs])
        assert last[f"dev_tts_loss_{lang}"] == pytest.approx(right, abs=2e-4)
        assert last[f"dev_tts_text_gain_{lang}"] == pytest.approx(wrong - right, abs=2e-4)
        assert all(r["loss"] != r["loss_wrong_text"] for r in rs)  # the text is in the input

    import torch

    from espnet_codec_lm.decode.loading import load_lm
    from espnet_codec_lm.tasks.corpus import SpeechSetConfig
    from espnet_codec_lm.tasks.sequence import BuildConfig
    from espnet_codec_lm.train.decode_monitor import DecodeMonitor, _target_nll

    model, tok, _ = load_lm(tmp_path / "exp" / "model")
    sets = [SpeechSetConfig(**data["data"]["valid_speech_sets"][0])]
    build = BuildConfig(prompt_lang="data", sft_speaker_prompt_s=0.5)
    mon = DecodeMonitor.from_data(sets, ["tts"], model.layout, tok, per_lang=2, build=build)
    g = mon.text_gain[0]
    ex = g.right
    with torch.no_grad():
        logits = model(torch.as_tensor(ex.tokens)[None]).logits[0]
    lab = torch.as_tensor(ex.labels()[:, 0])
    keep = lab != -100
    want = torch.nn.functional.cross_entropy(logits[keep], lab[keep]).item()
    assert _target_nll(model, ex) == pytest.approx(want, rel=1e-5)
    first = next(r for r in records if r["uttid"] == g.uttid)
    assert first["loss"] == pytest.approx(want, abs=2e-4)


def test_text_lang():
    from espnet_codec_lm.metrics.text import target_lang_share, text_lang

    assert text_lang("我们去公园。") == "zh"
    assert text_lang("we go to the park.") == "en"
    assert text_lang("we 去 park") is None and text_lang("") is None and text_lang("。9") is None
    assert target_lang_share(["我们。", "we go.", "我 go"], ["zh", "zh", "en"]) == pytest.approx(
        100 / 3
    )


def test_learning_curve_puts_runs_on_one_time_axis(tmp_path):
    import json

    from espnet_codec_lm.train.logger import learning_curve, plot_learning_curve

    for name, rows in {
        "cpt": [
            {"step": 5, "elapsed_s": 60.0, "dev_asr_wer_en": 100.0},
            {"step": 10, "elapsed_s": 120.0},
        ],
        "sft": [{"step": 5, "elapsed_s": 30.0, "dev_asr_wer_en": 80.0, "dev_asr_cer_zh": 70.0}],
    }.items():
        (tmp_path / name).mkdir()
        (tmp_path / name / "valid_log.jsonl").write_text(
            "".join(json.dumps(r) + "\n" for r in rows)
        )
    rows = learning_curve([tmp_path / "cpt", tmp_path / "sft"])
    assert [(r["run"], r["minutes"], r["start"]) for r in rows] == [
        ("cpt", 1.0, 0.0),
        ("sft", 2.5, 2.0),
    ]
    png = plot_learning_curve([tmp_path / "cpt", tmp_path / "sft"], tmp_path / "curve.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="no decoded dev scores"):
        plot_learning_curve([tmp_path / "cpt" / "nothing"], tmp_path / "x.png")


def test_guided_attention_trains_the_alignment_heads(tmp_path, corpus):
    """guided_attention on TTS: the penalty is logged and falls; the saved model keeps the
    default attention; bad layers/heads or data without task examples are config errors."""
    cfg = _config(tmp_path, corpus, stage="sft", tasks=["tts"])
    data = yaml.safe_load(cfg.read_text())
    data["guided_attention"] = {"weight": 5.0, "layers": [1], "heads": [0], "sigma": 0.2}
    data["stop"] = {"max_steps": 20}
    data["optim"] = {"lr": 1e-2, "warmup_steps": 1}
    data["batch"] = {"global_sequences": 2, "micro_batch": 1, "max_len": 256}
    data["data"]["build"] = {"sft_speaker_prompt_s": 0.2}
    cfg.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    train_in_process(cfg, tmp_path / "exp")
    rows = read_log(tmp_path / "exp" / "train_log.jsonl")
    align = [r["loss/align"] for r in rows]
    assert len(align) == 20 and all(0.0 <= a <= 1.0 for a in align)
    assert sum(align[-5:]) / 5 < 0.7 * sum(align[:3]) / 3, align
    saved = json.loads((tmp_path / "exp" / "model" / "config.json").read_text())
    assert saved.get("_attn_implementation") in (None, "sdpa")  # decoding keeps SDPA

    data["guided_attention"]["layers"] = [2]  # the model has 2 layers
    cfg.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ConfigError, match="out of range"):
        train_in_process(cfg, tmp_path / "bad")
    from espnet_codec_lm.train.config import LMTrainConfig

    with pytest.raises(ConfigError, match="data.kind tasks or shards"):
        config_from_dict(LMTrainConfig, {"guided_attention": {"weight": 1.0}}, "train")
