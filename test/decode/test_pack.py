"""bin/pack: one directory with the LM, the codec, decode configs and a model card, loadable by
path through the inference API and bin/infer."""

from __future__ import annotations

import numpy as np
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
