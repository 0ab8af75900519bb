"""Atomic writes keep the umask's mode (``mkstemp`` alone leaves 0600: unreadable to a group on a
shared cluster), and a codec's weights and config are replaced as one directory: a kill between
them leaves the old pair, a mixed pair is refused on loading."""

from __future__ import annotations

import os
import shutil
import signal
import stat

import numpy as np
import pytest
import soundfile as sf
from rel_fault import run_forked
from rel_helpers import call_main, make_tiny_codec, tiny_codec_train_config, tree_hashes, write_yaml

from espnet_codec_lm.testing.audio import make_data_dir
from espnet_codec_lm.utils.fileio import atomic_open, atomic_path, atomic_write_text, staged_dir


@pytest.fixture(params=[0o022, 0o002, 0o077])
def umask(request):
    old = os.umask(request.param)
    yield request.param
    os.umask(old)


def _mode(p) -> int:
    return stat.S_IMODE(os.stat(p).st_mode)


def test_atomic_writes_keep_the_umask_mode(tmp_path, umask):
    want = 0o666 & ~umask
    atomic_write_text(tmp_path / "a.txt", "x")
    with atomic_open(tmp_path / "b.bin", "wb") as f:
        f.write(b"x")
    with atomic_path(tmp_path / "c.wav") as tmp:
        sf.write(str(tmp), np.zeros(160, np.float32), 16000)
    with staged_dir(tmp_path / "d") as new:
        (new / "f").write_text("x")
    for name in ("a.txt", "b.bin", "c.wav", "d/f"):
        assert _mode(tmp_path / name) == want, (name, oct(_mode(tmp_path / name)))
    assert _mode(tmp_path / "d") == 0o777 & ~umask
    # a plain open gives the same mode: nothing stricter, nothing looser
    (tmp_path / "plain").write_text("x")
    assert _mode(tmp_path / "plain") == want


def test_stage_outputs_are_group_readable(tmp_path):
    """A codec and the codes tokenized with it, as a group on the cluster would read them."""
    old = os.umask(0o022)
    try:
        codec = make_tiny_codec(tmp_path / "codec")
        d = make_data_dir(tmp_path / "data", n_utts=2, seconds=0.4)
        res = call_main("codec_tokenize", "--codec_dir", codec, "--data", d, "--out_dir",
                        tmp_path / "dump")  # fmt: skip
        assert res.rc == 0, res.text
    finally:
        os.umask(old)
    for p in [*(tmp_path / "dump").iterdir(), *codec.iterdir(), *(d.iterdir())]:
        if p.is_file():
            assert _mode(p) == 0o644, (p, oct(_mode(p)))
    assert _mode(codec) == 0o755


def test_codec_with_another_config_is_refused(tmp_path):
    from espnet_codec_lm.codec.model import load_codec

    a = make_tiny_codec(tmp_path / "a")
    load_codec(a)
    text = (a / "config.yaml").read_text()
    assert "kmeans_iters: 10" in text or "kmeans_iters:" in text
    edited = "\n".join(
        "  kmeans_iters: 3" if ln.strip().startswith("kmeans_iters:") else ln
        for ln in text.splitlines()
    )
    (a / "config.yaml").write_text(edited + "\n")
    with pytest.raises(ValueError, match=r"model.safetensors: saved with another config than"):
        load_codec(a)
    # comments and key order do not count
    (a / "config.yaml").write_text("# a note\n" + text)
    load_codec(a)


def test_codec_train_killed_before_the_codec_swap(tmp_path):
    data = make_data_dir(tmp_path / "data", n_utts=2, seconds=0.5)
    cfg = tiny_codec_train_config(tmp_path / "codec.yaml", data)
    exp = tmp_path / "exp"
    args = ["--config", str(cfg), "--exp_dir", str(exp)]
    assert run_forked("codec_train", args, tmp_path / "log.txt") == 0
    codec_before = tree_hashes(exp / "codec")
    # the first swap of a save is checkpoint/, the second codec/: killed before the second
    rc = run_forked("codec_train", [*args, "max_steps=2"], tmp_path / "log.txt", "dir_swap", 2)
    assert rc == -signal.SIGKILL
    assert '"step": 2' in (exp / "checkpoint" / "trainer.json").read_text()
    assert tree_hashes(exp / "codec") == codec_before  # the old pair, whole
    assert list(exp.glob(".codec.*.new"))  # the new pair was written beside it
    from espnet_codec_lm.codec.model import load_codec

    load_codec(exp / "codec")
    assert run_forked("codec_train", [*args, "max_steps=2"], tmp_path / "log.txt") == 0
    assert '"step": 2' in (exp / "codec" / "train_state.json").read_text()
    assert not list(exp.glob(".codec.*"))  # nothing stale left
    load_codec(exp / "codec")
    shutil.rmtree(exp)


def test_lm_checkpoints_are_group_readable(tmp_path, tiny_base):
    old = os.umask(0o022)
    try:
        cfg = write_yaml(
            tmp_path / "train.yaml",
            {
                "model": {"init": "text_llm", "base_llm": str(tiny_base), "codebook_size": 8},
                "data": {"kind": "synthetic", "epoch_size": 4, "max_example": 16},
                "batch": {"global_sequences": 2, "micro_batch": 1, "max_len": 32},
                "stop": {"max_steps": 1},
                "eval": {"every_steps": 0},
                "log": {"tensorboard": False},
            },
        )
        res = call_main("lm_train", "--config", cfg, "--exp_dir", tmp_path / "exp")
        assert res.rc == 0, res.text
    finally:
        os.umask(old)
    paths = [p for p in (tmp_path / "exp").rglob("*") if not p.is_symlink()]
    assert any(p.name == "model.safetensors" for p in paths)
    for p in paths:
        want = 0o755 if p.is_dir() else 0o644
        assert _mode(p) == want, (p, oct(_mode(p)))
