"""The mini recipe end to end in its smoke configuration (CI): ``MINI_SIZE=tiny ./run.sh --smoke
true`` runs every stage of the stage template (data, validation, a one-step codec, tokenization,
BPE + text LLM, CPT, SFT in two groups (ASR + S2TT, TTS + S2ST), decoding of every task, scoring
with the system's own ASR, report + RESULTS.md), each output is checked to exist and parse (not
its quality), then a rerun skips every step."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from recipe_helpers import make_recipe_copy, run_sh

from espnet_codec_lm.data.espeak import espeak_available
from espnet_codec_lm.data.kaldi_io import read_table

SFT_U = "exp/lm_sft_asr_s2tt_speech_text_cpt"  # understanding: ASR + S2TT
SFT_G = "exp/lm_sft_tts_s2st_speech_text_cpt"  # generation: TTS + S2ST
DECODES = ("asr_test", "tts_test", "s2tt_test_en", "s2tt_test_zh", "s2st_test_en")


def _sft(name: str) -> str:
    """The SFT experiment that decodes ``name`` (a decode dir suffix such as ``tts_test``)."""
    return SFT_U if name.split("_")[0] in ("asr", "s2tt") else SFT_G


def _mtimes(d: Path, *roots: str, skip: tuple[str, ...] = ()) -> dict[str, int]:
    return {
        str(p): p.stat().st_mtime_ns
        for r in roots
        for p in (d / r).rglob("*")
        if p.is_file() and not any(str(p.relative_to(d)).startswith(s) for s in skip)
    }


def _check_data_and_codes(d: Path) -> None:
    for s in ("train", "dev", "test"):
        n_utts = len(read_table(d / "dump" / "data" / s / "utt2spk"))
        assert n_utts > 0 and len(read_table(d / "dump" / "codes" / s / "codes.scp")) == n_utts
        # the English utterances carry S2ST target speech: its codes go to codes_tgt
        n_tgt = len(read_table(d / "dump" / "data" / s / "wav_tgt.scp"))
        assert len(read_table(d / "dump" / "codes" / s / "codes_tgt.scp")) == n_tgt > 0
    assert (d / "exp" / "codec_debug" / "codec" / "model.safetensors").is_file()


def _check_lms(d: Path) -> None:
    text_llm = d / "exp" / "text_llm"
    hf = json.loads((text_llm / "hf" / "config.json").read_text())
    assert hf["model_type"] == "qwen2" and (text_llm / "hf" / "text_tokenizer.json").is_file()
    base_ppl = yaml.safe_load((text_llm / "ppl.yaml").read_text())["text_ppl_final"]
    cpt = d / "exp" / "lm_cpt_speech_text_cpt"
    cpt_ppl = yaml.safe_load((cpt / "ppl.yaml").read_text())
    # CPT starts from the exported text LLM: the same held-out perplexity before its first step
    assert cpt_ppl["text_ppl_init"] == pytest.approx(base_ppl, rel=1e-4)
    assert "model.base_llm=exp/text_llm/hf" in (cpt / ".done").read_text()
    # the codec's codebooks initialise the new rows (conf/smoke/cpt.yaml: new_rows_init: codec)
    assert "model.codec_dir=exp/codec_debug/codec" in (cpt / ".done").read_text()
    for run, tasks in ((SFT_U, ["asr", "s2tt"]), (SFT_G, ["tts", "s2st"])):
        sft = d / run
        assert yaml.safe_load((sft / "system.yaml").read_text())["system"] == "Speech & Text CPT"
        cfg = yaml.safe_load((sft / "config.yaml").read_text())
        assert cfg["data"]["tasks"] == tasks
        assert cfg["model"]["init"] == "exp/lm_cpt_speech_text_cpt/model"  # both from the CPT
        assert (sft / "codec" / "config.yaml").is_file()  # linked: self-contained experiment
    assert not (d / "exp" / "lm_sft_speech_text_cpt").exists()  # no joint run


def _check_decodes_and_scores(d: Path) -> None:
    n_test = len(read_table(d / "dump" / "data" / "test" / "utt2spk"))
    langs = read_table(d / "dump" / "data" / "test" / "utt2lang")
    n_en = sum(v == "en" for v in langs.values())
    for name in DECODES:
        dd = d / _sft(name) / f"decode_{name}"
        meta = yaml.safe_load((dd / "meta.yaml").read_text())
        scores = yaml.safe_load((dd / "scores.yaml").read_text())
        assert scores["task"] == meta["task"] == name.split("_")[0]
        if meta["task"] in ("asr", "s2tt"):
            n = (
                n_test
                if meta["task"] == "asr"
                else (n_en if name.endswith("en") else n_test - n_en)
            )
            # a two-step model may write an empty hypothesis: every utterance has its line
            assert len(read_table(dd / "text", allow_empty_value=True)) == n == scores["num_utts"]
        else:
            for k in range(meta["num_samples"]):
                assert all(
                    Path(p).is_file() for p in read_table(dd / f"sample_{k}" / "wav.scp").values()
                )
            assert "own ASR of Speech & Text CPT" in scores["protocol"]["asr"]
    assert not (d / SFT_G / "decode_asr_test").exists()  # each task decoded by its own run
    asr = yaml.safe_load((d / SFT_U / "decode_asr_test" / "scores.yaml").read_text())
    assert isinstance(asr["wer"], float) and isinstance(asr["cer"], float)
    tts = yaml.safe_load((d / SFT_G / "decode_tts_test" / "scores.yaml").read_text())
    assert tts["num_samples"] == 2 and len(tts["per_sample"]["wer"]) == 2
    assert tts["spk_sim"].startswith("not computed")
    en_zh = yaml.safe_load((d / SFT_U / "decode_s2tt_test_en" / "scores.yaml").read_text())
    assert (en_zh["src_lang"], en_zh["tgt_lang"]) == ("en", "zh")
    s2st = yaml.safe_load((d / SFT_G / "decode_s2st_test_en" / "scores.yaml").read_text())
    assert isinstance(s2st["asr_bleu"], float)


def _check_results(d: Path) -> None:
    md = (d / "RESULTS.md").read_text()
    for title in ("## ASR", "## TTS", "## S2TT", "## S2ST", "## Held-out text perplexity",
                  "## Quality goals", "## The paper's findings", "## Time and memory",
                  "## Generated speech", "## Held-out loss per task"):  # fmt: skip
        assert title in md, title
    assert "| Speech & Text CPT | CPT | text LLM |" in md  # forgetting table row
    assert "| test EN->ZH BLEU | test ZH->EN BLEU |" in md
    assert md.count("Not checked") >= 5  # one system only: the comparisons are not made
    losses = md.split("## Held-out loss per task")[1].split("##")[0]
    assert "| Speech & Text CPT | 2+2 | " in losses  # ASR + S2TT run, then TTS + S2ST run
    assert "**2 fine-tunings per system from the same CPT model**: ASR + S2TT and TTS + S2ST" in md
    assert "`new_rows_init: codec`" in md
    pngs = sorted((d / "exp" / "spectrograms").glob("*.png"))
    assert len(pngs) == 3 and all(p.read_bytes()[:4] == b"\x89PNG" for p in pngs)
    for p in pngs:
        assert f"(exp/spectrograms/{p.name})" in md
    rows = [json.loads(x) for x in (d / "exp" / "stage_times.jsonl").read_text().splitlines()]
    assert [r["label"].split(":")[0] for r in rows] == [f"stage {n}" for n in range(1, 11)]
    assert all(r["rc"] == 0 and r["wall_s"] > 0 and r["peak_rss_mb"] > 0 for r in rows)


@pytest.mark.slow
def test_mini_recipe_smoke_all_stages_then_rerun_skips(tmp_path):
    if not espeak_available():
        pytest.skip("espeak-ng is not installed")
    d = make_recipe_copy("mini_bilingual", tmp_path / "mini_bilingual" / "codec_lm1")
    cmd = ["./run.sh", "--smoke", "true", "--nj", "1"]
    res = run_sh(cmd, d, env={"MINI_SIZE": "tiny"}, timeout=900)
    assert res.returncode == 0, res.stdout[-4000:]
    _check_data_and_codes(d)
    _check_lms(d)
    _check_decodes_and_scores(d)
    _check_results(d)
    assert "stage 8: decoding (speech_text_cpt)" in res.stdout  # the summary printed at the end

    # everything is done: a rerun runs no step (only RESULTS.md and its pictures are rebuilt)
    before = _mtimes(d, "data", "dump", "exp", skip=("exp/stage_times", "exp/spectrograms"))
    res = run_sh(cmd, d, env={"MINI_SIZE": "tiny"}, timeout=600)
    assert res.returncode == 0, res.stdout[-4000:]
    assert ")   $ " not in res.stdout  # no step command was run
    assert res.stdout.count("done already") >= 20
    assert _mtimes(d, "data", "dump", "exp", skip=("exp/stage_times", "exp/spectrograms")) == before

    # a codec changed in place (same path, other weights) makes stage 4 tokenize again
    (codec_cfg,) = (d / "exp").glob("codec_*/codec/config.yaml")
    codec_cfg.write_text(codec_cfg.read_text() + "# retrained\n")
    res = run_sh([*cmd, "--stage", "4", "--stop_stage", "4"], d, env={"MINI_SIZE": "tiny"})
    assert res.returncode == 0, res.stdout[-4000:]
    ran = [x for x in res.stdout.splitlines() if ")   $ " in x and "codec_tokenize" in x]
    assert len(ran) >= 4 and res.stdout.count("the command changed") == len(ran)

    # DualSpeechLM beside it (--systems dual): the shipped USTokenizer tokenises every set into
    # dump/ust, the dual LM trains on USTokens + the codec's codes, its speech is rendered into
    # codec codes and scored by the main system's ASR, and RESULTS.md gains its row
    res = run_sh([*cmd, "--systems", "dual", "--stage", "5"], d, env={"MINI_SIZE": "tiny"})
    assert res.returncode == 0, res.stdout[-4000:]
    for s in ("train", "dev", "test"):
        n = len(read_table(d / "dump" / "data" / s / "utt2spk"))
        assert len(read_table(d / "dump" / "ust" / s / "codes.scp")) == n
        assert (d / "dump" / "ust" / s / "codes_tgt.scp").is_file()
    gen = d / "exp" / "lm_sft_tts_s2st_dualspeechlm"
    assert (gen / "model" / "dual.json").is_file() and (
        gen / "model" / "acoustic.safetensors"
    ).is_file()
    import kaldiio

    codes = dict(kaldiio.load_scp(str(gen / "decode_tts_test" / "sample_0" / "codes.scp")).items())
    assert codes and all(c.ndim == 2 and c.shape[1] == 3 for c in codes.values())  # codec codes
    tts = yaml.safe_load((gen / "decode_tts_test" / "scores.yaml").read_text())
    assert "ASR of lm_sft_asr_s2tt_speech_text_cpt" in tts["protocol"]["asr"]
    asr = yaml.safe_load(
        (d / "exp" / "lm_sft_asr_s2tt_dualspeechlm" / "decode_asr_test" / "scores.yaml").read_text()
    )
    assert isinstance(asr["wer"], float)
    md = (d / "RESULTS.md").read_text()
    assert "| DualSpeechLM |" in md.split("## ASR")[1].split("##")[0]
