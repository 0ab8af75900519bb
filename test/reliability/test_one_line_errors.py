"""Cases that used to end in a traceback (or a silent empty result), each now one line naming
the file and utterance: the duration filter on unreadable audio with the audio check off, a
filter that drops everything, ``codec_decode`` on a torn or corrupt ark, ``codec_train`` on a
truncated ``checkpoint.pt``, a corrupt ``speech_lm.json`` / ``vocab_layout.json``, and
``infer --out`` naming a directory."""

from __future__ import annotations

import shutil

import pytest
from rel_helpers import (
    assert_one_line_error,
    assert_unchanged,
    call_main,
    make_tiny_codec,
    tiny_codec_train_config,
    tree_hashes,
)

from espnet_codec_lm.testing.audio import make_data_dir, speech_like, write_wav

UTT = "spk1-utt001"


# --- data: duration filter -----------------------------------------------------------------
@pytest.mark.parametrize("kind", ["missing", "garbage"])
def test_duration_filter_on_unreadable_audio_without_audio_check(tmp_path, kind):
    d = make_data_dir(tmp_path / "data", n_utts=4, seconds=0.4)
    wav = d / "wav" / f"{UTT}.wav"
    if kind == "missing":
        wav.unlink()
    else:
        wav.write_bytes(b"this is not audio at all" * 10)
    before = tree_hashes(tmp_path)
    res = call_main("validate_data_dir", d, "--check_audio", "false", "--out", tmp_path / "o",
                    "--max_duration", "10")  # fmt: skip
    assert_one_line_error(res, f"{d}/wav.scp", f"'{UTT}'", "cannot read the duration")
    assert not (tmp_path / "o").exists()
    assert_unchanged(before, tree_hashes(tmp_path))


@pytest.mark.parametrize("flags", [("--min_duration", "100"), ("--max_text_length", "1")])
def test_filter_that_drops_everything_is_an_error(tmp_path, flags):
    d = make_data_dir(tmp_path / "data", n_utts=3, seconds=0.4)
    res = call_main("validate_data_dir", d, "--out", tmp_path / "o", *flags)
    assert_one_line_error(res, str(d), "no utterance left", "3 filtered")
    assert not (tmp_path / "o").exists()


# --- codec ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def codes(tmp_path_factory):
    """A tiny codec and the codes of a 3-utterance set (``codes.scp`` + ``codes.ark``)."""
    root = tmp_path_factory.mktemp("rel_one_line")
    codec = make_tiny_codec(root / "codec")
    d = make_data_dir(root / "data", n_utts=3, seconds=0.4)
    res = call_main("codec_tokenize", "--codec_dir", codec, "--data", d, "--out_dir", root / "dump")
    assert res.rc == 0, res.text
    return codec, root / "dump"


@pytest.mark.parametrize("kind", ["truncated", "corrupt"])
def test_codec_decode_torn_ark_names_the_utterance(tmp_path, codes, kind):
    codec, dump = codes
    bad = tmp_path / "codes"
    shutil.copytree(dump, bad)
    scp = bad / "codes.scp"
    scp.write_text(scp.read_text().replace(str(dump.resolve()), str(bad.resolve())))
    ark = bad / "codes.ark"
    data = ark.read_bytes()
    last = scp.read_text().splitlines()[-1].split()[0]
    if kind == "truncated":
        ark.write_bytes(data[: len(data) - 40])  # the last utterance is cut
    else:
        off = int(scp.read_text().splitlines()[-1].rsplit(":", 1)[1])
        ark.write_bytes(data[:off] + b"\xff" * (len(data) - off))
    res = call_main("codec_decode", "--codec_dir", codec, "--codes", scp, "--out_dir",
                    tmp_path / "out")  # fmt: skip
    assert_one_line_error(res, str(scp), f"'{last}'", "cannot read codes")
    assert not (tmp_path / "out" / "wav.scp").exists()
    assert not (tmp_path / "out" / "wav" / f"{last}.wav").exists()


@pytest.mark.parametrize("keep", [0.5, 0.99, 10])
def test_codec_train_truncated_checkpoint(tmp_path, keep):
    data = make_data_dir(tmp_path / "data", n_utts=2, seconds=0.5)
    cfg = tiny_codec_train_config(tmp_path / "codec.yaml", data)
    exp = tmp_path / "exp"
    assert call_main("codec_train", "--config", cfg, "--exp_dir", exp).rc == 0
    ck = exp / "checkpoint" / "generator.safetensors"
    b = ck.read_bytes()
    ck.write_bytes(b[: int(len(b) * keep) if keep < 1 else keep])
    before = tree_hashes(exp)
    res = call_main("codec_train", "--config", cfg, "--exp_dir", exp, "max_steps=2")
    assert_one_line_error(res, str(ck), "cannot resume from this checkpoint", "--no_resume")
    assert_unchanged(before, tree_hashes(exp))


# --- LM checkpoint files, infer --out -----------------------------------------------------------
@pytest.mark.parametrize("name", ["speech_lm.json", "vocab_layout.json"])
@pytest.mark.parametrize("content", [b'{"num_streams": 3,', b"[1, 2]", b"\xff\xfe{}", b""])
def test_corrupt_checkpoint_json_is_one_line(tmp_path, lm_exp, name, content):
    exp = tmp_path / "lm"
    shutil.copytree(lm_exp, exp)
    (exp / "model" / name).write_bytes(content)
    wav = write_wav(tmp_path / "in.wav", speech_like(0.5))
    res = call_main("infer", "--lm", exp, "--task", "asr", "--wav", wav)
    assert_one_line_error(res, str(exp / "model" / name))


def test_vocab_layout_with_unknown_field(tmp_path, lm_exp):
    import json

    exp = tmp_path / "lm"
    shutil.copytree(lm_exp, exp)
    f = exp / "model" / "vocab_layout.json"
    f.write_text(json.dumps({**json.loads(f.read_text()), "codebok_size": 3}))
    wav = write_wav(tmp_path / "in.wav", speech_like(0.5))
    res = call_main("infer", "--lm", exp, "--task", "asr", "--wav", wav)
    assert_one_line_error(res, str(f), "not a vocabulary layout", "codebok_size")


@pytest.mark.parametrize("task", ["asr", "tts"])
def test_infer_out_is_a_directory(tmp_path, lm_exp, task):
    out = tmp_path / "outdir"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    wav = write_wav(tmp_path / "in.wav", speech_like(1.5))
    args = ["--wav", wav] if task == "asr" else ["--text", "hello", "--prompt_wav", wav]
    before = tree_hashes(tmp_path)
    res = call_main("infer", "--lm", lm_exp, "--task", task, *args, "--out", out)
    assert_one_line_error(res, str(out), "is a directory")
    assert_unchanged(before, tree_hashes(tmp_path))
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]


def test_atomic_write_onto_a_directory_is_one_line(tmp_path):
    from espnet_codec_lm.utils.fileio import atomic_write_text

    (tmp_path / "d").mkdir()
    with pytest.raises(IsADirectoryError, match="is a directory"):
        atomic_write_text(tmp_path / "d", "x")
    assert list(tmp_path.iterdir()) == [tmp_path / "d"]
