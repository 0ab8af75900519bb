"""ustokenizer_tokenize: ark/scp that kaldiio reads back at 25 Hz, resume and skip, errors."""

from __future__ import annotations

import kaldiio
import numpy as np
import pytest
import soundfile as sf
import torch
from ustok_testutil import tiny_model_config

from espnet_codec_lm.bin import ustokenizer_tokenize
from espnet_codec_lm.codec.audio import list_utterances
from espnet_codec_lm.ustokenizer import USTokenizer, load_ustokenizer, save_ustokenizer
from espnet_codec_lm.ustokenizer.tokenize import encode_shard


@pytest.fixture
def model_dir(tmp_path, data_dir):
    torch.manual_seed(0)
    model = USTokenizer(tiny_model_config(), adapter_dim=32)
    model.train()
    feats, tokens = model.features([torch.randn(16000) * 0.1 for _ in range(3)])
    model.quantize(model.encode_latent(feats, tokens), tokens)  # k-means initialises the codebook
    save_ustokenizer(model.eval(), tmp_path / "ust")
    return tmp_path / "ust"


def test_tokenize_writes_25hz_codes_and_a_rerun_skips(model_dir, data_dir, tmp_path, capsys):
    out = tmp_path / "dump"
    args = ["--model_dir", str(model_dir), "--data", str(data_dir), "--out_dir", str(out)]
    assert ustokenizer_tokenize.main(args) == 0
    codes = dict(kaldiio.load_scp(str(out / "ustokens.scp")))
    model = load_ustokenizer(model_dir)
    assert len(codes) == 4 and not list(out.glob("ustokens.*.scp"))
    for utt, arr in codes.items():
        wav, _ = sf.read(data_dir / "wav" / f"{utt}.wav", dtype="float32")
        assert arr.dtype == np.int16 and arr.shape == (-(-len(wav) // 640), 1)
        assert 0 <= arr.min() and arr.max() < 1024
        np.testing.assert_array_equal(arr[:, 0], model.encode(wav).numpy())
    frames = dict(line.split() for line in (out / "ustokens.num_frames").read_text().splitlines())
    assert {u: int(t) for u, t in frames.items()} == {u: a.shape[0] for u, a in codes.items()}
    mtime = (out / "ustokens.scp").stat().st_mtime_ns
    assert ustokenizer_tokenize.main(args) == 0  # done: nothing is rewritten
    assert (out / "ustokens.scp").stat().st_mtime_ns == mtime
    assert "nothing to do" in capsys.readouterr().err


def test_an_interrupted_shard_resumes(model_dir, data_dir, tmp_path):
    utts = list_utterances(data_dir)
    prefix = str(tmp_path / "ustokens.0")
    assert encode_shard(str(model_dir), utts[:2], prefix) == 2  # "killed" after 2
    assert encode_shard(str(model_dir), utts, prefix) == 2  # only the missing two
    assert len(kaldiio.load_scp(prefix + ".scp")) == 4


def test_a_bad_wav_is_a_one_line_error_naming_the_utterance(model_dir, data_dir, tmp_path, capsys):
    bad = tmp_path / "bad"
    bad.mkdir()
    lines = (data_dir / "wav.scp").read_text().splitlines()
    utt = lines[2].split()[0]
    lines[2] = f"{utt} {tmp_path}/missing.wav"
    (bad / "wav.scp").write_text("\n".join(lines) + "\n")
    (bad / "utt2spk").write_text((data_dir / "utt2spk").read_text())
    rc = ustokenizer_tokenize.main(
        ["--model_dir", str(model_dir), "--data", str(bad), "--out_dir", str(tmp_path / "o")]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 1 and utt in err[-1] and "missing.wav" in err[-1]
    assert "Traceback" not in "".join(err)
