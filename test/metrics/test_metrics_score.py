"""bin/score on fake decode dirs laid out as in doc/design.md, with hand-computed expectations."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import sacrebleu
import yaml
from metrics_fake_asr import LookupASR, wav_key

from espnet_codec_lm.bin.score import main as score_main
from espnet_codec_lm.metrics.audio import load_audio
from espnet_codec_lm.metrics.config import ASRModelConfig, ModelPathConfig, ScoringConfig
from espnet_codec_lm.metrics.scoring import score_decode_dir
from espnet_codec_lm.metrics.speaker import SpeakerEmbedder
from espnet_codec_lm.metrics.utmos import MOSPredictor
from espnet_codec_lm.testing.audio import speech_like, write_wav

TEXT = {"u1": "Hello, world!", "u2": "Twenty five apples.", "u3": "你好，世界。"}
LANG = {"u1": "en", "u2": "en", "u3": "zh"}
TEXT_ZH = {"u1": "你好世界", "u2": "二十五个苹果", "u3": "你好世界"}


def write_table(path: Path, table: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{k} {v}\n" for k, v in sorted(table.items())), encoding="utf-8")


def write_meta(d: Path, **meta) -> None:
    d.mkdir(parents=True, exist_ok=True)
    (d / "meta.yaml").write_text(yaml.safe_dump(meta))


@pytest.fixture
def data_dir(tmp_path):
    d = tmp_path / "data" / "test"
    wavs = {
        u: str(write_wav(d / "wav" / f"{u}.wav", speech_like(1.0, rng=np.random.default_rng(i))))
        for i, u in enumerate(TEXT)
    }
    write_table(d / "wav.scp", wavs)
    write_table(d / "text", TEXT)
    write_table(d / "utt2lang", LANG)
    write_table(d / "text.zh", TEXT_ZH)
    return d


def test_asr_wer_and_cer(tmp_path, data_dir):
    dd = tmp_path / "exp" / "sys" / "decode_asr_test"
    write_meta(dd, task="asr", num_samples=1, seed=3, decoding={"beam_size": 8})
    # u1: "world" -> "word" (1 S of 2 words); u2 normalises to "25 apples" = ref; u3: 1 D of 4
    write_table(dd / "text", {"u1": "hello word", "u2": "25 apples", "u3": "你好世"})
    scores = score_decode_dir(dd, data_dir, ScoringConfig())
    assert scores["wer"] == pytest.approx(25.0)  # 1 error / 4 words
    assert scores["cer"] == pytest.approx(25.0)  # 1 error / 4 characters
    assert scores["num_utts"] == 3 and scores["num_samples"] == 1
    assert scores["target_lang"] == pytest.approx(100.0)  # every output in its utterance's script
    on_disk = yaml.safe_load((dd / "scores.yaml").read_text())
    assert on_disk["wer"] == pytest.approx(25.0) and on_disk["protocol"]["seed"] == 3
    assert on_disk["protocol"]["decoding"] == {"beam_size": 8}
    assert "EnglishTextNormalizer" in on_disk["protocol"]["normaliser"]
    rows = [r.split("\t") for r in (dd / "scores_detail.tsv").read_text().splitlines()]
    assert rows[0][:4] == ["utt_id", "sample", "metric", "value"]
    u1 = next(r for r in rows if r[0] == "u1")
    assert u1[2:6] == ["wer", "50.0000", "1", "2"] and u1[6:] == ["hello word", "hello world"]


def test_asr_missing_output_counts_as_deletions(tmp_path, data_dir):
    dd = tmp_path / "decode_asr_test"
    write_meta(dd, task="asr")
    write_table(dd / "text", {"u1": "hello world", "u3": "你好世界"})
    scores = score_decode_dir(dd, data_dir, ScoringConfig())
    assert scores["num_missing"] == 1
    assert scores["wer"] == pytest.approx(50.0)  # u2's two words deleted, of 4
    ignored = score_decode_dir(dd, data_dir, ScoringConfig(ignore_missing=True), force=True)
    assert ignored["wer"] == pytest.approx(0.0)
    assert ignored["protocol"]["missing_outputs"] == "ignored"


def test_s2tt_bleu_uses_target_language_tokeniser(tmp_path, data_dir):
    dd = tmp_path / "decode_s2tt_test"
    write_meta(dd, task="s2tt", src_lang="en", tgt_lang="zh")
    hyps = {"u1": "你好世界", "u2": "二十五个梨", "u3": "hello"}
    write_table(dd / "text", hyps)
    scores = score_decode_dir(dd, data_dir, ScoringConfig())
    assert scores["target_lang"] == pytest.approx(200 / 3, abs=0.01)  # u3 is not Mandarin
    ids = sorted(TEXT)
    expected = sacrebleu.corpus_bleu(
        [hyps[u] for u in ids], [[TEXT_ZH[u] for u in ids]], tokenize="zh"
    )
    assert scores["bleu"] == pytest.approx(expected.score, abs=1e-4)
    assert "tok:zh" in scores["protocol"]["bleu"]


def _speech_decode(tmp_path, data_dir, task, n_samples, **meta):
    """Sample 0 = the reference audio itself; other samples = different audio."""
    refs = {u: load_audio(v) for u, v in _table(data_dir / "wav.scp").items()}
    dd = tmp_path / "exp" / "sys" / f"decode_{task}_test"
    write_meta(dd, task=task, num_samples=n_samples, seed=0, **meta)
    out = {}
    for k in range(n_samples):
        scp = {}
        for i, u in enumerate(sorted(refs)):
            wav = refs[u] if k == 0 else speech_like(0.8, rng=np.random.default_rng(100 * k + i))
            scp[u] = str(write_wav(dd / f"sample_{k}" / "wav" / f"{u}.wav", wav))
            out[(k, u)] = load_audio(scp[u])
        write_table(dd / f"sample_{k}" / "wav.scp", scp)
    return dd, out


def _table(path: Path) -> dict:
    return dict(line.split(maxsplit=1) for line in path.read_text().splitlines())


def _lookup_cfg(tmp_path, rawnet=None, utmos=None) -> ScoringConfig:
    return ScoringConfig(
        asr=ASRModelConfig(
            kind="toolkit", path=str(tmp_path), loader="metrics_fake_asr:load_lookup_asr"
        ),
        speaker=ModelPathConfig(path=str(rawnet) if rawnet else None),
        mos=ModelPathConfig(path=str(utmos) if utmos else None),
    )


def test_tts_per_sample_scores_averaged(tmp_path, data_dir, tiny_rawnet3_dir, tiny_utmos_ckpt):
    dd, wavs = _speech_decode(tmp_path, data_dir, "tts", 2)
    LookupASR.calls.clear()
    # sample 0 is transcribed perfectly; sample 1 has "world"->"word" and two of four characters
    heard = {
        (0, "u1"): "hello world",
        (0, "u2"): "twenty-five apples",
        (0, "u3"): "你好世界",
        (1, "u1"): "hello word",
        (1, "u2"): "25 apples",
        (1, "u3"): "你好",
    }
    LookupASR.table = {wav_key(wavs[k]): t for k, t in heard.items()}
    cfg = _lookup_cfg(tmp_path, tiny_rawnet3_dir, tiny_utmos_ckpt[0])
    scores = score_decode_dir(dd, data_dir, cfg)
    assert scores["per_sample"]["wer"] == pytest.approx([0.0, 25.0])
    assert scores["wer"] == pytest.approx(12.5)
    assert scores["per_sample"]["cer"] == pytest.approx([0.0, 50.0])
    assert scores["cer"] == pytest.approx(25.0)
    assert set(LookupASR.calls) == {"en", "zh"}  # the ASR is told each utterance's language
    # SPK-SIM: sample 0 is the reference itself (1.0); sample 1 as the embedder says
    spk = SpeakerEmbedder(tiny_rawnet3_dir)
    sims1 = [
        spk.similarity(spk.embed(wavs[(1, u)]), spk.embed(load_audio(p)))
        for u, p in sorted(_table(data_dir / "wav.scp").items())
    ]
    assert scores["per_sample"]["spk_sim"] == pytest.approx([1.0, np.mean(sims1)], abs=1e-4)
    assert scores["spk_sim"] == pytest.approx((1.0 + np.mean(sims1)) / 2, abs=1e-4)
    mos = MOSPredictor(tiny_utmos_ckpt[0])
    expected_mos = np.mean([mos.predict(w) for w in wavs.values()])
    assert scores["utmos"] == pytest.approx(expected_mos, abs=1e-4)
    assert scores["protocol"]["asr"] == f"toolkit:{tmp_path.name}"
    assert scores["protocol"]["speaker_model"] == tiny_rawnet3_dir.name

    # a rerun with the same inputs is skipped; a forced one reuses the cached model outputs
    assert score_decode_dir(dd, data_dir, cfg) is None
    n_calls = len(LookupASR.calls)
    again = score_decode_dir(dd, data_dir, cfg, force=True)
    assert len(LookupASR.calls) == n_calls and again["wer"] == scores["wer"]
    assert len(list((dd / "scoring_cache").glob("sample_*.tsv"))) == 6
    # re-decoded audio (a rewritten wav.scp) is not scored from the stale cache
    scp = dd / "sample_1" / "wav.scp"
    scp.write_text(scp.read_text())
    os.utime(scp, ns=(scp.stat().st_mtime_ns + 10**9,) * 2)
    score_decode_dir(dd, data_dir, cfg)
    assert len(LookupASR.calls) > n_calls


def test_tts_models_not_configured(tmp_path, data_dir):
    dd, _ = _speech_decode(tmp_path, data_dir, "tts", 1)
    scores = score_decode_dir(dd, data_dir, ScoringConfig(mos=ModelPathConfig(path="/no/such.pt")))
    assert scores["wer"] == "not computed: no ASR model configured (asr.kind: none)"
    assert scores["cer"].startswith("not computed: ")
    assert scores["spk_sim"] == "not computed: no speaker-embedding model configured (speaker.path)"
    assert scores["utmos"] == "not computed: UTMOS checkpoint not found: /no/such.pt"
    assert yaml.safe_load((dd / "scores.yaml").read_text())["utmos"].startswith("not computed")


def test_s2st_asr_bleu(tmp_path, data_dir, tiny_utmos_ckpt):
    dd, wavs = _speech_decode(tmp_path, data_dir, "s2st", 1, src_lang="en", tgt_lang="zh")
    heard = {"u1": "你好，世界", "u2": "二十五个梨", "u3": "你好"}
    LookupASR.table = {wav_key(wavs[(0, u)]): t for u, t in heard.items()}
    scores = score_decode_dir(dd, data_dir, _lookup_cfg(tmp_path, utmos=tiny_utmos_ckpt[0]))
    # punctuation removed by the Mandarin normaliser on both sides, then sacrebleu "zh"
    ids = sorted(TEXT)
    expected = sacrebleu.corpus_bleu(
        [heard[u].replace("，", "") for u in ids], [[TEXT_ZH[u] for u in ids]], tokenize="zh"
    )
    assert scores["asr_bleu"] == pytest.approx(expected.score, abs=1e-4)
    assert isinstance(scores["utmos"], float)
    assert "spk_sim" not in scores and "wer" not in scores


def test_tts_with_whisper_end_to_end(tmp_path, data_dir, tiny_whisper_dir):
    dd, _ = _speech_decode(tmp_path, data_dir, "tts", 1)
    cfg = ScoringConfig(asr=ASRModelConfig(kind="whisper", path=str(tiny_whisper_dir)))
    scores = score_decode_dir(dd, data_dir, cfg)
    assert isinstance(scores["wer"], float) and scores["wer"] >= 0  # garbage text, real path
    assert scores["protocol"]["asr"] == f"whisper:{tiny_whisper_dir.name}"
    assert "normalizer.json" in scores["protocol"]["normaliser"]  # spelling map from the model dir


def test_bad_inputs_are_one_line_errors(tmp_path, data_dir, capsys):
    dd = tmp_path / "decode_asr_test"
    write_meta(dd, task="asr")
    write_table(dd / "text", {"u1": "hello", "zz9": "stray"})
    with pytest.raises(ValueError, match="utterance 'zz9' has no reference"):
        score_decode_dir(dd, data_dir, ScoringConfig())
    assert score_main(["--decode_dir", str(dd), "--data_dir", str(data_dir)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "zz9" in err[0]

    tts, _ = _speech_decode(tmp_path / "t", data_dir, "tts", 2)
    (tts / "meta.yaml").write_text(yaml.safe_dump({"task": "tts", "num_samples": 5}))
    with pytest.raises(ValueError, match="num_samples is 5 but 2"):
        score_decode_dir(tts, data_dir, ScoringConfig())
    write_meta(tmp_path / "decode_x", task="continuation")
    with pytest.raises(ValueError, match="not scored"):
        score_decode_dir(tmp_path / "decode_x", data_dir, ScoringConfig())
    s2tt = tmp_path / "decode_s2tt_x"
    write_meta(s2tt, task="s2tt", data_dir=str(data_dir))
    write_table(s2tt / "text", {"u1": "x"})
    with pytest.raises(ValueError, match="needs tgt_lang"):
        score_decode_dir(s2tt, None, ScoringConfig())


def test_score_cli_with_config_and_overrides(tmp_path, data_dir):
    dd = tmp_path / "decode_asr_test"
    write_meta(dd, task="asr", data_dir=str(data_dir))
    write_table(dd / "text", {"u1": "hello world", "u2": "25 apples", "u3": "你好世界"})
    conf = tmp_path / "score.yaml"
    conf.write_text(yaml.safe_dump({"asr": {"kind": "none"}, "device": "cpu"}))
    assert score_main(["--config", str(conf), "--decode_dir", str(dd), "ignore_missing=true"]) == 0
    scores = yaml.safe_load((dd / "scores.yaml").read_text())
    assert scores["wer"] == 0.0 and scores["cer"] == 0.0
    assert score_main(["--config", str(conf), "--decode_dir", str(dd), "asr.bogus=1"]) == 1


def test_a_registered_task_is_scored_by_its_templates_mapping(tmp_path, data_dir):
    """Adding a task needs no edit in metrics/: the decoder writes the template's ``scoring``
    into meta.yaml, and scoring follows it (here: a toy task reading a Mandarin text aloud in
    English, so its speech is judged against the English transcript with ASR-BLEU)."""
    from espnet_codec_lm.testing.toy_task import registered, speak_translation_template

    with registered(speak_translation_template("read_translation_aloud")) as toy:
        assert toy.scoring == {
            "target": "speech",
            "reference": "transcript",
            "metric": "bleu",
            "speaker_similarity": False,
        }
        en = tmp_path / "data_en"
        en.mkdir()
        for name in ("wav.scp", "text", "text.zh"):
            rows = _table(data_dir / name)
            write_table(en / name, {u: rows[u] for u in ("u1", "u2")})
        dd, wavs = _speech_decode(
            tmp_path, en, toy.name, 1, src_lang="zh", tgt_lang="en", scoring=toy.scoring
        )
        heard = {"u1": "hello world", "u2": "twenty five pears"}
        LookupASR.table = {wav_key(wavs[(0, u)]): t for u, t in heard.items()}
        scores = score_decode_dir(dd, en, _lookup_cfg(tmp_path))
    expected = sacrebleu.corpus_bleu(
        ["hello world", "twenty five pears"], [["hello world", "twenty five apples"]]
    )
    assert scores["asr_bleu"] == pytest.approx(expected.score, abs=1e-4)
    assert "wer" not in scores and "spk_sim" not in scores and "bleu" not in scores


def test_scoring_mapping_in_meta_is_checked(tmp_path, data_dir):
    dd, _ = _speech_decode(tmp_path, data_dir, "tts", 1, scoring={"target": "speech"})
    with pytest.raises(
        ValueError, match=r"meta.yaml: scoring mapping .*lacks \['reference', 'metric'\]"
    ):
        score_decode_dir(dd, data_dir, _lookup_cfg(tmp_path))
    write_meta(dd, task="continuation", num_samples=1, scoring=None)
    with pytest.raises(ValueError, match="task 'continuation' is not scored"):
        score_decode_dir(dd, data_dir, _lookup_cfg(tmp_path))
    write_meta(
        dd,
        task="tts",
        num_samples=1,
        scoring={"target": "speech", "reference": "x", "metric": "bleu"},
    )
    with pytest.raises(ValueError, match="scoring.reference must be one of"):
        score_decode_dir(dd, data_dir, _lookup_cfg(tmp_path))


def test_the_fallback_scoring_is_what_the_templates_derive():
    """DEFAULT_SCORING (for a meta.yaml without ``scoring:``) is written out in metrics/, which
    may not import tasks/; it must stay equal to the templates' own mapping."""
    from espnet_codec_lm.metrics.layout import DEFAULT_SCORING, ScoringSpec
    from espnet_codec_lm.tasks.templates import get_template

    for task, spec in DEFAULT_SCORING.items():
        assert ScoringSpec(**get_template(task).scoring) == spec, task
