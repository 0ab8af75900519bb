"""Loading a checkpoint never executes code from the file: every loader reads safetensors or
``torch.load(weights_only=True)``. A malicious pickle (its ``__reduce__`` opens a marker file
for writing) is planted where each stage expects weights; the stage must refuse it with one
line, and the marker must not exist. The plant is shown to be live: an unrestricted
``torch.load`` of the same file does create the marker."""

from __future__ import annotations

import shutil

import pytest
import torch
from rel_helpers import assert_one_line_error, call_main, plant


def test_the_plant_is_live(tmp_path):
    marker = tmp_path / "pwned"
    p = plant(tmp_path / "evil.pt", marker)
    torch.load(p, weights_only=False)  # what an unsafe loader would do
    assert marker.exists()


def test_speech_lm_checkpoint_with_pickle_weights(tmp_path, tiny_base):
    """A SpeechLM checkpoint whose weights are a ``pytorch_model.bin`` pickle."""
    from espnet_codec_lm.lm.model import SpeechLM
    from espnet_codec_lm.testing.tiny_models import make_tiny_speech_lm

    ckpt = make_tiny_speech_lm(tmp_path / "ckpt", tiny_base, codebook_size=8)
    (ckpt / "model.safetensors").unlink()
    marker = tmp_path / "pwned"
    plant(ckpt / "pytorch_model.bin", marker)
    with pytest.raises(ValueError, match=str(ckpt)) as e:
        SpeechLM.from_pretrained(ckpt)
    assert "\n" not in str(e.value)
    assert not marker.exists()


def test_speech_lm_heads_file_is_a_pickle(tmp_path, tiny_base):
    """``speech_heads.safetensors`` replaced by a pickle: safetensors refuses to parse it."""
    from espnet_codec_lm.lm.model import HEADS_FILE, SpeechLM
    from espnet_codec_lm.testing.tiny_models import make_tiny_speech_lm

    ckpt = make_tiny_speech_lm(tmp_path / "ckpt", tiny_base, codebook_size=8)
    marker = tmp_path / "pwned"
    plant(ckpt / HEADS_FILE, marker)
    with pytest.raises(ValueError, match=HEADS_FILE):
        SpeechLM.from_pretrained(ckpt)
    assert not marker.exists()


def test_speaker_model_weights_pickle(tmp_path):
    """SPK-SIM's RawNet3 ``.pth`` is loaded with weights_only=True."""
    from espnet_codec_lm.metrics.speaker import load_state_dict

    marker = tmp_path / "pwned"
    p = plant(tmp_path / "spk" / "40epoch.pth", marker)
    with pytest.raises(Exception, match="[Ww]eights only load failed|Unsupported global"):
        load_state_dict(p)
    assert not marker.exists()


def test_utmos_checkpoint_pickle(tmp_path):
    from espnet_codec_lm.metrics.utmos import load_mos_model

    marker = tmp_path / "pwned"
    p = plant(tmp_path / "utmos22_strong_step7459_v1.pt", marker)
    with pytest.raises(Exception, match="[Ww]eights only load failed|Unsupported global"):
        load_mos_model(str(p))
    assert not marker.exists()


def test_codec_train_resume_from_pickle_checkpoint(tmp_path):
    """``codec_train`` resumes from ``checkpoint.pt`` (torch.save); a planted one is refused
    with one line naming it, and the experiment's other files are not touched."""
    from rel_helpers import tiny_codec_train_config, tree_hashes

    from espnet_codec_lm.testing.audio import make_data_dir

    data = make_data_dir(tmp_path / "data", n_utts=2, seconds=0.5)
    cfg = tiny_codec_train_config(tmp_path / "codec.yaml", data, loss={})
    exp = tmp_path / "exp"
    marker = tmp_path / "pwned"
    plant(exp / "checkpoint.pt", marker)
    before = tree_hashes(exp)
    res = call_main("codec_train", "--config", cfg, "--exp_dir", exp)
    assert_one_line_error(res, str(exp / "checkpoint.pt"))
    assert not marker.exists()
    assert tree_hashes(exp)["exp/checkpoint.pt"] == before["exp/checkpoint.pt"]


def test_lm_train_resume_from_pickle_optimizer_state(tmp_path, tiny_base):
    """A training checkpoint whose ``optimizer.safetensors`` is a pickle: resume refuses it."""
    from rel_helpers import write_yaml

    cfg = write_yaml(
        tmp_path / "train.yaml",
        {
            "model": {"init": "text_llm", "base_llm": str(tiny_base), "codebook_size": 8},
            "data": {"kind": "synthetic", "epoch_size": 4, "max_example": 16},
            "batch": {"global_sequences": 2, "micro_batch": 1, "max_len": 32},
            "stop": {"max_steps": 2},
            "checkpoint": {"every_steps": 1},
            "eval": {"every_steps": 0},
            "log": {"tensorboard": False},
        },
    )
    exp = tmp_path / "exp"
    res = call_main("lm_train", "--config", cfg, "--exp_dir", exp, "stop.max_steps=1")
    assert res.rc == 0, res.text
    step = exp / "checkpoints" / "step_00000001"
    marker = tmp_path / "pwned"
    plant(step / "optimizer.safetensors", marker)
    shutil.rmtree(exp / "model")
    res = call_main("lm_train", "--config", cfg, "--exp_dir", exp)
    assert_one_line_error(res, str(step))
    assert not marker.exists()


def test_no_loader_in_the_package_unpickles_freely():
    """A guard for code added later: every ``torch.load`` in the package passes
    ``weights_only=True``, and nothing calls ``pickle.load(s)`` or ``allow_pickle=True``."""
    import ast
    from pathlib import Path

    import espnet_codec_lm

    bad = []
    for py in sorted(Path(espnet_codec_lm.__file__).parent.rglob("*.py")):
        for node in ast.walk(ast.parse(py.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            name = ast.unparse(node.func)
            kw = {k.arg: ast.unparse(k.value) for k in node.keywords}
            where = f"{py.name}:{node.lineno}"
            if name.endswith("torch.load") and kw.get("weights_only") != "True":
                bad.append(f"{where} torch.load without weights_only=True")
            if name in ("pickle.load", "pickle.loads", "joblib.load", "dill.load"):
                bad.append(f"{where} {name}")
            if kw.get("allow_pickle") == "True":
                bad.append(f"{where} allow_pickle=True")
    assert not bad, bad
