"""Batched tokenization: utterances grouped by frame count give the same codes as one at a
time (and as ``codec.encode``), through the library and the CLI, and resume like the rest."""

from __future__ import annotations

import kaldiio
import numpy as np
import pytest
import soundfile as sf
import torch
import yaml
from codec_testutil import SR, speechlike, tiny_model_config

from espnet_codec_lm.bin import codec_tokenize
from espnet_codec_lm.codec import SoundStreamCodec, load_codec, save_codec
from espnet_codec_lm.codec import tokenize as tok
from espnet_codec_lm.codec.audio import list_utterances

# samples: frame counts 30, 31, 31, 30, 1, 5, 31, 50, 1 (hop 320): groups of equal frames,
# shorter than a frame, exactly whole frames
LENGTHS = [9600, 9610, 9700, 9599, 100, 1600, 9601, 16000, 319]


def _data_dir(root):
    rng = np.random.default_rng(1)
    (root / "wav").mkdir(parents=True)
    lines = []
    for i, n in enumerate(LENGTHS):
        path = root / "wav" / f"u{i}.wav"
        sf.write(path, speechlike(n, rng), SR, subtype="FLOAT")
        lines.append(f"u{i} {path}")
    (root / "wav.scp").write_text("\n".join(lines) + "\n")
    return root


@pytest.mark.parametrize("kind", ["spectral", "seanet"])
def test_batched_codes_equal_one_at_a_time(kind, tmp_path, monkeypatch):
    torch.manual_seed(0)
    save_codec(SoundStreamCodec(tiny_model_config(kind)).eval(), tmp_path / "codec")
    codec_dir, data = tmp_path / "codec", _data_dir(tmp_path / "data")
    batches = []
    real = tok._batch_encoder

    def spy(*args):
        encode_batch, sr, hop = real(*args)

        def wrapped(wavs, utts):
            frames = {-(-len(w) // hop) for w in wavs}
            batches.append((list(utts), frames))
            return encode_batch(wavs, utts)

        return wrapped, sr, hop

    monkeypatch.setattr(tok, "_batch_encoder", spy)
    one = kaldiio.load_scp(str(tok.tokenize(codec_dir, data, tmp_path / "one", n_q=8)))
    assert not batches  # batch_size 1 on the CPU: the one-at-a-time path
    many = kaldiio.load_scp(
        str(tok.tokenize(codec_dir, data, tmp_path / "many", n_q=8, batch_size=3, device="cpu"))
    )
    assert sorted(u for b, _ in batches for u in b) == sorted(one)  # each once
    assert all(len(f) == 1 and len(b) <= 3 for b, f in batches)  # one frame count per batch
    assert max(len(b) for b, _ in batches) == 3  # and batches did form
    codec = load_codec(codec_dir)
    for utt in sorted(one):
        a, b = one[utt], many[utt]
        assert a.dtype == b.dtype == np.int16
        np.testing.assert_array_equal(a, b, err_msg=utt)
        wav, _ = sf.read(data / "wav" / f"{utt}.wav", dtype="float32")
        np.testing.assert_array_equal(b.T, codec.encode(torch.from_numpy(wav), 8).numpy())


def test_cli_batches_and_resumes(tmp_path):
    torch.manual_seed(0)
    save_codec(SoundStreamCodec(tiny_model_config()).eval(), tmp_path / "codec")
    codec_dir, data = tmp_path / "codec", _data_dir(tmp_path / "data")
    out = tmp_path / "dump"
    # a shard "killed" after 4 utterances (batched), with a torn last line, then finished
    out.mkdir()
    prov = tok.codes_provenance(codec_dir, data, 3)
    (out / "codes.yaml").write_text(yaml.safe_dump(prov, sort_keys=False))
    utts = list_utterances(data)
    prefix = str(out / "codes.0")
    assert tok.encode_shard(str(codec_dir), utts[:4], prefix, 3, batch_size=4) == 4
    with open(prefix + ".scp", "a") as f:
        f.write("u5 /torn/li")
    args = ["--codec_dir", str(codec_dir), "--data", str(data), "--out_dir", str(out)]
    assert codec_tokenize.main([*args, "--batch_size", "4", "--device", "cpu"]) == 0
    codes = kaldiio.load_scp(str(out / "codes.scp"))
    ref = kaldiio.load_scp(str(tok.tokenize(codec_dir, data, tmp_path / "ref", n_q=3)))
    assert sorted(codes) == sorted(ref) == [f"u{i}" for i in range(len(LENGTHS))]
    for utt in ref:
        np.testing.assert_array_equal(codes[utt], ref[utt])
