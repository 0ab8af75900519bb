"""bin/report on fake experiment trees: the paper's tables, reference rows, protocol, perplexity."""

from __future__ import annotations

from pathlib import Path

import yaml

from espnet_codec_lm.bin.report import main as report_main
from espnet_codec_lm.metrics.report import render


def scored(exp_root: Path, exp: str, system: str | None, decode: str, **scores) -> Path:
    d = exp_root / exp
    d.mkdir(parents=True, exist_ok=True)
    if system:
        (d / "system.yaml").write_text(yaml.safe_dump({"name": system, "init": "x"}))
    dd = d / decode
    dd.mkdir()
    scores.setdefault("num_samples", 1)
    scores.setdefault("protocol", {"seed": 0})
    (dd / "scores.yaml").write_text(yaml.safe_dump(scores, allow_unicode=True))
    return dd


def section(md: str, title_start: str) -> str:
    return md.split(f"## {title_start}", 1)[1].split("\n## ", 1)[0]


def table_cells(text: str) -> dict[str, list[str]]:
    """First markdown table in ``text`` as {first cell: other cells}, header under 'system'."""
    rows = {}
    for line in text.splitlines():
        if line.startswith("| ") and not line.startswith("|---"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            rows.setdefault(cells[0], cells[1:])
        elif rows and not line.strip():
            break
    return rows


def fake_tree(root: Path) -> None:
    asr = dict(task="asr", num_utts=20)
    scored(
        root,
        "sft_asr_scratch",
        "No Initialization",
        "decode_asr_test_clean",
        test_set="test_clean",
        wer=12.345,
        **asr,
    )
    scored(
        root,
        "sft_asr_cpt",
        "Speech & Text CPT",
        "decode_asr_test_clean",
        test_set="test_clean",
        wer=3.71,
        **asr,
    )
    scored(
        root,
        "sft_asr_cpt",
        "Speech & Text CPT",
        "decode_asr_aishell",
        test_set="aishell",
        cer=7.2,
        **asr,
    )
    tts = dict(
        task="tts",
        test_set="test",
        num_samples=5,
        num_utts=10,
        protocol={
            "asr": "whisper:whisper-large-v3",
            "speaker_model": "voxcelebs12_rawnet3",
            "seed": 7,
            "decoding": {"top_k": 30, "temperature": 1.5},
        },
    )
    scored(
        root,
        "sft_tts_speech",
        "Speech CPT",
        "decode_tts_test",
        wer=3.66,
        spk_sim=0.6612,
        utmos="not computed: no UTMOS checkpoint configured (mos.path)",
        **tts,
    )
    s2tt = dict(task="s2tt", test_set="covost2", num_utts=30, protocol={"bleu": "nrefs:1|tok:zh"})
    scored(
        root,
        "sft_s2tt_cpt",
        "Speech & Text CPT",
        "decode_s2tt_covost2",
        src_lang="en",
        tgt_lang="zh",
        bleu=33.08,
        **s2tt,
    )
    scored(
        root,
        "my_baseline",
        None,
        "decode_s2st_test",
        task="s2st",
        test_set="test",
        src_lang="en",
        tgt_lang="zh",
        asr_bleu=21.0,
        utmos=3.456,
        num_utts=4,
    )
    # forgetting: ppl.yaml in an LM exp dir, as the trainer writes it
    cpt = root / "cpt_speech_text"
    cpt.mkdir()
    (cpt / "system.yaml").write_text(yaml.safe_dump({"name": "Speech & Text CPT"}))
    (cpt / "ppl.yaml").write_text(
        yaml.safe_dump(
            {
                "checkpoint": "exp/cpt_speech_text/checkpoint",
                "base_llm": "/models/qwen",
                "sets": {"heldout_en": {"ppl": 12.0, "base_ppl": 10.0, "num_tokens": 5000}},
            }
        )
    )


def test_report_tables(tmp_path):
    root = tmp_path / "exp"
    fake_tree(root)
    md = render(root, tmp_path / "RESULTS.md", plots=True)
    assert (tmp_path / "RESULTS.md").read_text() == md

    asr = table_cells(section(md, "ASR"))
    assert asr["system"] == ["aishell CER", "test_clean WER"]
    assert asr["No Initialization"] == ["-", "12.3"]
    assert asr["Speech & Text CPT"] == ["7.2", "3.7"]
    assert asr["Text LLM Initialization"] == ["-", "-"]  # the paper's systems are always rows
    assert "Test sets: aishell (20 utts), test_clean (20 utts)" in section(md, "ASR")
    ref = table_cells(section(md, "ASR").split("Reference", 1)[1])
    assert ref["paper: Speech & Text CPT"] == ["3.7", "6.3", "7.2"]
    assert ref["paper: No Initialization"] == ["5.5", "9.5", "15.5"]

    tts_text = section(md, "TTS")
    tts = table_cells(tts_text)
    assert tts["system"] == ["UTMOS", "WER", "SPK-SIM"]
    assert tts["Speech CPT"] == [
        "not computed: no UTMOS checkpoint configured (mos.path)",
        "3.7",
        "0.66",
    ]
    assert "ASR for WER: whisper:whisper-large-v3" in tts_text
    assert "Speaker model (SPK-SIM, cosine): voxcelebs12_rawnet3" in tts_text
    assert "Samples per input: 5" in tts_text and "Seed: 7" in tts_text
    assert "Decoding: temperature=1.5, top_k=30" in tts_text
    assert table_cells(tts_text.split("Reference", 1)[1])["paper: Speech CPT"] == [
        "3.65",
        "3.7",
        "0.66",
    ]

    s2tt = table_cells(section(md, "S2TT"))
    assert s2tt["system"] == ["covost2 EN->ZH BLEU"]
    assert s2tt["Speech & Text CPT"] == ["33.1"]
    assert "BLEU: nrefs:1|tok:zh" in section(md, "S2TT")

    s2st_text = section(md, "S2ST")
    s2st = table_cells(s2st_text)
    assert s2st["my_baseline"] == ["21.0", "3.46"]  # no system.yaml: the exp dir name
    ref = table_cells(s2st_text.split("Reference", 1)[1])
    assert ref["paper: No Initialization"] == ["did not converge", "did not converge"]
    assert ref["paper: Speech & Text CPT"] == ["33.4", "3.66"]

    ppl = table_cells(section(md, "Held-out text perplexity"))
    assert ppl["system"] == ["heldout_en base LLM", "heldout_en this model", "heldout_en change"]
    assert ppl["Speech & Text CPT"] == ["10.0", "12.0", "+20.0%"]

    for key in ("asr", "tts", "s2tt", "s2st"):
        png = tmp_path / f"RESULTS_{key}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"]({png.name})" in md


def test_report_latest_run_wins_and_notes(tmp_path):
    import os

    root = tmp_path / "exp"
    a = scored(
        root, "a", "Speech CPT", "decode_s2tt_t", task="s2tt", test_set="t", bleu=10.0, num_utts=1
    )
    b = scored(
        root, "b", "Speech CPT", "decode_s2tt_t", task="s2tt", test_set="t", bleu=20.0, num_utts=1
    )
    os.utime(a / "scores.yaml", (1e9, 1e9))
    os.utime(b / "scores.yaml", (2e9, 2e9))
    md = render(root, tmp_path / "R.md", plots=False)
    assert table_cells(section(md, "S2TT"))["Speech CPT"] == ["20.0"]
    assert "several runs" in section(md, "S2TT")
    assert "No scored runs for this table." in section(md, "ASR")
    assert "No `ppl.yaml` found" in md


def test_report_cli(tmp_path, capsys):
    root = tmp_path / "exp"
    fake_tree(root)
    out = tmp_path / "out" / "RESULTS.md"
    assert report_main(["--exp_root", str(root), "--output", str(out), "plots=false"]) == 0
    assert "| Speech & Text CPT | 7.2 | 3.7 |" in out.read_text()
    assert not (out.parent / "RESULTS_asr.png").exists()
    capsys.readouterr()
    (root / "bad").mkdir()
    (root / "bad" / "system.yaml").write_text("name: [unclosed")
    scored(root, "bad", None, "decode_asr_x", task="asr", wer=1.0)
    assert report_main(["--exp_root", str(root), "--output", str(out)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "bad/system.yaml:1" in err[0]


def _trainer_exp(root: Path, name: str, system, stage: str, init: str, ppl0: float, ppl1: float):
    """An LM experiment as bin/lm_train leaves it: system.yaml, config.yaml, ppl.yaml."""
    d = root / name
    d.mkdir(parents=True)
    (d / "system.yaml").write_text(yaml.safe_dump({"system": system, "stage": stage}))
    (d / "config.yaml").write_text(yaml.safe_dump({"model": {"init": init}}))
    (d / "ppl.yaml").write_text(
        yaml.safe_dump(
            {
                "text_ppl_init": ppl0,
                "text_ppl_final": ppl1,
                "text_ppl_file": str(root / "heldout_text.txt"),
                "text_ppl_tokens": 4000,
                "text_ppl_history": [{"step": 0, "ppl": ppl0}, {"step": 9, "ppl": ppl1}],
            }
        )
    )


def test_report_reads_the_trainers_ppl_yaml(tmp_path):
    """The forgetting table from ppl.yaml as the LM trainer writes it (text_ppl_init / _final),
    including a text LLM experiment whose system.yaml has no system (it used to fail)."""
    root = tmp_path / "exp"
    _trainer_exp(root, "text_llm", None, "cpt", "none", 2000.0, 10.0)
    _trainer_exp(root, "lm_cpt_x", "Speech & Text CPT", "cpt", "text_llm", 10.0, 12.5)
    _trainer_exp(root, "lm_sft_x", "Speech & Text CPT", "sft", "exp/lm_cpt_x/model", 12.5, 20.0)
    _trainer_exp(root, "lm_sft_y", "No Initialization", "sft", "none", 2100.0, 400.0)
    md = render(root, tmp_path / "R.md", plots=False)
    rows = table_cells(section(md, "Held-out text perplexity"))
    assert rows["model"] == [
        "stage",
        "starts from",
        "ppl at start",
        "ppl at end",
        "end vs text LLM",
    ]
    assert rows["text LLM (text_llm)"] == ["text LLM", "random init", "2000.0", "10.0", "-"]
    assert rows["Speech & Text CPT"] == ["CPT", "text LLM", "10.0", "12.5", "+25.0%"]
    assert rows["Speech & Text CPT (SFT)"] == ["SFT", "lm_cpt_x", "12.5", "20.0", "+100.0%"]
    assert rows["No Initialization (SFT)"] == ["SFT", "random init", "2100.0", "400.0", "+3900.0%"]
    assert "heldout_text.txt: 4000 tokens" in section(md, "Held-out text perplexity")
