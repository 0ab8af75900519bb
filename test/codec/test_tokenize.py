"""codec_tokenize / codec_decode: kaldiio codes, dtype, resuming after an interruption, errors."""

from __future__ import annotations

import kaldiio
import numpy as np
import pytest
import soundfile as sf
import torch
import yaml
from codec_testutil import SR, tiny_model_config, write_data_dir

from espnet_codec_lm.bin import codec_decode, codec_tokenize
from espnet_codec_lm.codec import SoundStreamCodec, load_codec, save_codec
from espnet_codec_lm.codec.tokenize import codes_dtype, codes_provenance, encode_shard, tokenize


@pytest.fixture
def codec_dir(tmp_path):
    torch.manual_seed(0)
    save_codec(SoundStreamCodec(tiny_model_config()).eval(), tmp_path / "codec")
    return tmp_path / "codec"


def test_tokenize_writes_int16_codes_matching_encode(codec_dir, data_dir, tmp_path):
    out = tmp_path / "dump"
    assert (
        codec_tokenize.main(
            [
                "--codec_dir",
                str(codec_dir),
                "--data",
                str(data_dir),
                "--out_dir",
                str(out),
                "--nj",
                "2",
            ]
        )
        == 0
    )
    codes = dict(kaldiio.load_scp(str(out / "codes.scp")))
    assert sorted(codes) == [f"utt{i:02d}" for i in range(4)]
    assert not list(out.glob("codes.*.scp"))  # shards merged and removed
    codec = load_codec(codec_dir)
    for utt, arr in codes.items():
        wav, _ = sf.read(data_dir / "wav" / f"{utt}.wav", dtype="float32")
        assert arr.dtype == np.int16 and arr.shape == (-(-len(wav) // 320), 3)
        np.testing.assert_array_equal(arr.T, codec.encode(torch.from_numpy(wav), 3).numpy())
    assert codes_dtype(1024) is np.int16 and codes_dtype(65536) is np.int32
    # frames per utterance beside the codes (what training reads to keep codes on disk)
    frames = dict(line.split() for line in (out / "codes.num_frames").read_text().splitlines())
    assert {u: int(t) for u, t in frames.items()} == {u: a.shape[0] for u, a in codes.items()}


def test_tokenize_resumes_after_interruption(codec_dir, tmp_path):
    data = write_data_dir(tmp_path / "d", n_utts=5)
    out = tmp_path / "dump"
    from espnet_codec_lm.codec.audio import list_utterances

    utts = list_utterances(data)
    prefix = str(out / "codes.0")
    out.mkdir()
    # what tokenize records before its first shard (shards without it are discarded)
    prov = codes_provenance(codec_dir, data, 3)
    (out / "codes.yaml").write_text(yaml.safe_dump(prov, sort_keys=False))
    assert encode_shard(str(codec_dir), utts[:3], prefix, 3) == 3  # "killed" after 3
    with open(prefix + ".scp", "a") as f:
        f.write("utt03 /torn/li")  # a torn last line from the crash
    assert encode_shard(str(codec_dir), utts, prefix, 3) == 2  # only the missing two
    scp = tokenize(codec_dir, data, out, n_q=3, nj=1)
    assert len(kaldiio.load_scp(str(scp))) == 5
    assert tokenize(codec_dir, data, out, n_q=3, nj=1) == scp  # done: a no-op


def test_decode_writes_wavs(codec_dir, data_dir, tmp_path):
    out = tmp_path / "dump"
    tokenize(codec_dir, data_dir, out, n_q=3)
    res = tmp_path / "resynth"
    args = ["--codec_dir", str(codec_dir), "--codes", str(out / "codes.scp"), "--out_dir", str(res)]
    assert codec_decode.main(args) == 0
    lines = (res / "wav.scp").read_text().splitlines()
    assert len(lines) == 4
    wav, sr = sf.read(lines[0].split()[1])
    assert sr == SR and len(wav) % 320 == 0 and np.isfinite(wav).all()


def test_bad_inputs_fail_in_one_line(codec_dir, tmp_path, capsys):
    data = write_data_dir(tmp_path / "d", n_utts=2)
    # another sample rate is resampled on reading (documented): 0.5 s at 8 kHz -> 25 frames
    sf.write(data / "wav" / "utt01.wav", np.zeros(4000, np.float32), 8000)
    rc = codec_tokenize.main(
        ["--codec_dir", str(codec_dir), "--data", str(data), "--out_dir", str(tmp_path / "o")]
    )
    assert rc == 0
    assert kaldiio.load_scp(str(tmp_path / "o" / "codes.scp"))["utt01"].shape == (25, 3)
    sf.write(data / "wav" / "utt01.wav", np.full(800, np.nan, np.float32), SR, subtype="FLOAT")
    rc = codec_tokenize.main(
        ["--codec_dir", str(codec_dir), "--data", str(data), "--out_dir", str(tmp_path / "o2")]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 1 and "utt01" in err[-1] and "NaN" in err[-1] and "Traceback" not in "".join(err)
    rc = codec_tokenize.main(
        ["--codec_dir", str(tmp_path / "nope"), "--data", str(data), "--out_dir", str(tmp_path)]
    )
    assert rc == 1
