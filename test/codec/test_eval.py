"""Metrics against hand-computed values; codec_eval writes its table, plots and an export."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import yaml
from codec_testutil import SR, speechlike, tiny_model_config

from espnet_codec_lm.bin import codec_eval
from espnet_codec_lm.codec import SoundStreamCodec, save_codec
from espnet_codec_lm.codec.metrics import mel_distance, pesq_score, si_snr, stoi_score


def test_si_snr_hand_computed():
    rng = np.random.default_rng(0)
    ref = rng.standard_normal(16000)
    ref -= ref.mean()
    noise = rng.standard_normal(16000)
    noise -= noise.mean()
    noise -= (noise @ ref) / (ref @ ref) * ref  # orthogonal to ref: SI-SNR is exactly the ratio
    noise *= np.sqrt((ref @ ref) / (noise @ noise) / 10.0)  # 10 dB below the signal
    assert si_snr(ref, ref + noise) == pytest.approx(10.0, abs=1e-6)
    assert si_snr(ref, 3.0 * ref) > 60  # scale-invariant
    assert si_snr(ref, (ref + noise)[:-100]) < 10.0  # a shorter hypothesis is zero-padded


def test_mel_pesq_stoi_order_degradations():
    rng = np.random.default_rng(1)
    ref = speechlike(3 * SR, rng)
    slight = ref + 0.001 * rng.standard_normal(len(ref)).astype(np.float32)
    heavy = ref + 0.05 * rng.standard_normal(len(ref)).astype(np.float32)
    assert mel_distance(ref, ref, SR) == 0.0
    assert 0 < mel_distance(ref, slight, SR) < mel_distance(ref, heavy, SR)
    assert stoi_score(ref, slight, SR) > stoi_score(ref, heavy, SR)
    assert stoi_score(ref, ref, SR) == pytest.approx(1.0, abs=1e-6)
    p_slight, p_heavy = pesq_score(ref, slight, SR), pesq_score(ref, heavy, SR)
    assert p_slight > p_heavy >= 1.0 and p_slight <= 4.65


def test_codec_eval_writes_table_plots_and_export(data_dir, tmp_path, capsys):
    torch.manual_seed(0)
    codec_dir = tmp_path / "exp" / "codec"
    save_codec(SoundStreamCodec(tiny_model_config()).eval(), codec_dir)
    out = tmp_path / "eval"
    ship = tmp_path / "ship"
    rc = codec_eval.main(
        [
            "--codec_dir",
            str(codec_dir),
            "--data",
            str(data_dir),
            "--out_dir",
            str(out),
            "--n_q",
            "1",
            "3",
            "8",
            "--num_plots",
            "1",
            "--export_to",
            str(ship),
        ]
    )
    assert rc == 0
    res = yaml.safe_load((out / "results.yaml").read_text())
    assert res["num_utts"] == 4 and sorted(res["n_q"]) == [1, 3, 8]
    assert res["n_q"][3]["kbps"] == pytest.approx(0.9)  # 64 codes = 6 bits x 50 Hz x 3
    assert set(res["usage"]) == set(range(1, 9))
    assert 0 < res["usage"][1]["used_fraction"] <= 1
    assert len(list(out.glob("spec_*.png"))) == 1
    assert len((out / "per_utt.tsv").read_text().splitlines()) == 1 + 4 * 3
    assert "| 3 | 0.9 |" in (out / "results.md").read_text()
    readme = (ship / "README.md").read_text()
    assert "| 3 | 0.9 |" in readme and "codec_eval" in readme
    # shipped: fp16 without the EMA sums, evaluated as such, loads back to the same codes
    evaluated = out / "codec_evaluated" / "model.safetensors"
    assert (ship / "model.safetensors").read_bytes() == evaluated.read_bytes()
    size = (ship / "model.safetensors").stat().st_size
    assert size < 0.6 * (codec_dir / "model.safetensors").stat().st_size
    from espnet_codec_lm.codec import load_codec

    shipped, full = load_codec(ship), load_codec(codec_dir)
    wav = torch.from_numpy(speechlike(SR, np.random.default_rng(3)))
    assert (shipped.encode(wav, 3) == full.encode(wav, 3)).float().mean() > 0.9
    assert next(shipped.parameters()).dtype == torch.float32


def test_quality_limits_bench(data_dir, tmp_path):
    """bench/codec_quality_limits.py: every variant scored; the STFT round trip of the decoder's
    own inverse is transparent, an untrained codec is not."""
    import importlib.util
    import json
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "bench" / "codec_quality_limits.py"
    spec = importlib.util.spec_from_file_location("codec_quality_limits", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    torch.manual_seed(0)
    save_codec(SoundStreamCodec(tiny_model_config()).eval(), tmp_path / "codec")
    out = tmp_path / "limits.json"
    args = ["--codec_dir", str(tmp_path / "codec"), "--data", str(data_dir), "--every", "1"]
    assert bench.main([*args, "--num", "2", "--n_q", "1", "3", "--json", str(out)]) == 0
    means = json.loads(out.read_text())
    assert set(means) == {
        "codec q=1", "codec q=3", "unquantized", "codec magnitude (q=3) + original phase",
        "original magnitude + codec phase (q=3)", "STFT round trip",
    }  # fmt: skip
    assert means["STFT round trip"] > 4.4 > 2.0 > means["codec q=3"]
    save_codec(SoundStreamCodec(tiny_model_config("seanet")).eval(), tmp_path / "seanet")
    with pytest.raises(SystemExit, match="only the inverse-STFT decoder"):
        bench.main(["--codec_dir", str(tmp_path / "seanet"), "--data", str(data_dir)])
