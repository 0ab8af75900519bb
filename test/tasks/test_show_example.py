"""``bin/show_example``: readable sequences (decoded text, speech frames and codes)."""

from __future__ import annotations

import pytest

from espnet_codec_lm.bin import show_example
from espnet_codec_lm.config import dump_config


@pytest.fixture
def conf(syn, tmp_path):
    path = tmp_path / "data.yaml"
    dump_config(syn.data_config(), path)
    return ["--config", str(path), "--tokenizer", str(syn.root / "tokenizer"),
            "--vocab_layout", str(syn.root / "vocab_layout.json")]  # fmt: skip


def test_tts_cpt(conf, capsys, syn, corpora):
    assert show_example.main([*conf, "--task", "tts", "--utt", "enspk0-001"]) == 0
    out = capsys.readouterr().out
    s = next(x for x in corpora["speech"].samples if x.uttid == "enspk0-001")
    assert "utterance enspk0-001 (cpt)" in out
    assert repr(s.text) in out  # the transcript, decoded
    assert f"{len(s.codes)} frames ({len(s.codes) / 50:.2f} s)" in out  # the target speech
    assert "cb1[" + " ".join(str(int(c)) for c in s.codes[:6, 0]) + " ..." in out
    for slot in ("transcript", "style_prompt", "speaker_prompt", "task_prompt", "speech"):
        assert slot in out
    assert out.count("<speech_start>") == 2 and out.count("<text_start>") == 3


def test_sft_prefix_and_ids(conf, capsys, syn):
    assert show_example.main([*conf, "--task", "asr", "--stage", "sft", "--ids"]) == 0
    out = capsys.readouterr().out
    assert "[loss on 0/" in out and "      ids: <text_start>" in out
    assert show_example.main([*conf, "--task", "s2st", "--stage", "sft", "--prefix"]) == 0
    out = capsys.readouterr().out
    assert "inference prefix" in out and "-> generate speech until <speech_end>" in out


def test_stats(conf, capsys):
    assert show_example.main([*conf, "--stats", "examples_per_epoch=400", "max_len=2048"]) == 0
    out = capsys.readouterr().out
    assert "packing_efficiency: 0.9" in out and "draws: 400" in out


def test_bad_input_is_one_line(conf, capsys, tmp_path):
    assert show_example.main([*conf, "--task", "s2st"]) == 1  # SFT-only task in CPT
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not used in cpt" in err[0]
    assert show_example.main([*conf, "--task", "asr", "--utt", "nope"]) == 1
    assert "utterance nope not found" in capsys.readouterr().err
    bad = tmp_path / "bad.yaml"
    bad.write_text("speech_sets: [{data_dir: /nonexistent, codes: /nonexistent/codes.scp}]\n")
    assert show_example.main(["--config", str(bad), "--tokenizer", conf[3]]) == 1
    assert "/nonexistent: data directory not found" in capsys.readouterr().err


def test_demo(capsys):
    assert show_example.main(["--demo", "--task", "continuation", "--seed", "2"]) == 0
    out = capsys.readouterr().out
    assert "speech_prefix" in out and "speech_suffix" in out and "frames" in out


def test_lm_training_config(conf, capsys, syn, tmp_path):
    """An LM training config works as --config: its data: section with the trainer's stage,
    seed, batch.max_len and micro-batch, as the trainer builds it."""
    import yaml

    from espnet_codec_lm.config import to_dict

    def write_yaml(data, path):
        path.write_text(yaml.safe_dump(data))

    train_yaml = tmp_path / "config.yaml"
    data = {**to_dict(syn.data_config()), "tasks": ["asr"], "max_len": 99999}
    write_yaml({"stage": "sft", "seed": 3, "model": {"init": "none"}, "data": data,
                "batch": {"max_len": 2048, "micro_batch": 2}}, train_yaml)  # fmt: skip
    tr = ["--config", str(train_yaml), *conf[2:]]
    direct = [*conf, "stage=sft", "seed=3", "max_len=2048", "batch_size=2", "tasks=[asr]"]
    for extra in (["--task", "asr"], ["--stats"]):
        assert show_example.main([*tr, *extra]) == 0
        out = capsys.readouterr().out
        assert show_example.main([*direct, *extra]) == 0
        assert out == capsys.readouterr().out and out
        assert ("(sft)" in out) if extra[0] == "--task" else ("draws: " in out)
    write_yaml({"stage": "cpt", "data": {"kind": "synthetic"}}, train_yaml)
    assert show_example.main(tr) == 1
    assert "only 'tasks' data (or 'shards' with data.speech_sets) can be shown" in (
        capsys.readouterr().err
    )
    # a streamed CPT config: the same examples, built from its speech sets
    cpt = {**to_dict(syn.data_config()), "kind": "shards", "shuffle_buffer": 5}
    write_yaml({"stage": "cpt", "seed": 3, "model": {"init": "none"}, "data": cpt,
                "batch": {"max_len": 2048, "micro_batch": 2}}, train_yaml)  # fmt: skip
    assert show_example.main([*tr, "--task", "tts"]) == 0
    out = capsys.readouterr().out
    assert (
        show_example.main([*conf, "seed=3", "max_len=2048", "batch_size=2", "--task", "tts"]) == 0
    )
    assert out == capsys.readouterr().out and "tts" in out
