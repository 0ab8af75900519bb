"""Audio loading: every wav.scp form to 16 kHz mono float32, and every defect as one line."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from espnet_codec_lm.data.audio import AudioError, load_audio, wav_truncation
from espnet_codec_lm.testing.audio import (
    sine,
    write_corrupt_wav,
    write_empty_wav,
    write_nan_wav,
    write_truncated_wav,
    write_wav,
)


def _dominant_freq(wav: np.ndarray, sr: int) -> float:
    spec = np.abs(np.fft.rfft(wav))
    return float(np.fft.rfftfreq(len(wav), 1 / sr)[spec.argmax()])


def test_resample_and_downmix(tmp_path):
    x = sine(440, 1.0, 22050)
    stereo = np.stack([x, x], axis=1)
    path = write_wav(tmp_path / "a.wav", stereo, 22050)
    y = load_audio(str(path))
    assert y.dtype == np.float32 and y.ndim == 1
    assert abs(len(y) - 16000) <= 1
    assert abs(_dominant_freq(y, 16000) - 440) < 2
    assert np.isclose(np.abs(y).max(), 0.5, atol=0.01)


def test_flac_pipe_and_ark_give_the_same_samples(tmp_path):
    import kaldiio

    x = sine(300, 0.5)
    wav = write_wav(tmp_path / "a.wav", x)
    flac = tmp_path / "a.flac"
    sf.write(str(flac), x, 16000, subtype="PCM_16")
    kaldiio.save_ark(str(tmp_path / "a.ark"), {"u": (16000, (x * 32768).astype(np.int16))})
    ref = load_audio(str(wav))
    for entry in (str(flac), f"cat {wav} |", f"{tmp_path / 'a.ark'}:2"):
        got = load_audio(entry)
        np.testing.assert_allclose(got, ref, atol=1e-4, err_msg=entry)


def test_segment_cut(tmp_path):
    x = np.concatenate([sine(200, 1.0), sine(1000, 1.0)])
    path = write_wav(tmp_path / "a.wav", x)
    seg = load_audio(str(path), start=1.0, end=2.0)
    assert len(seg) == 16000 and abs(_dominant_freq(seg, 16000) - 1000) < 2
    assert len(load_audio(str(path), start=0.5, end=-1)) == 24000
    with pytest.raises(AudioError, match="outside the recording"):
        load_audio(str(path), utt_id="u", start=1.5, end=3.0)


@pytest.mark.parametrize("ext", ["wav", "flac", "ogg"])
def test_segments_of_a_file_are_read_by_seeking(tmp_path, monkeypatch, ext):
    """A segment of a plain file reads only its samples (no whole-file decode) and equals the
    cut of the whole recording; pipes still decode everything, then cut."""
    import espnet_codec_lm.data.audio as audio

    rng = np.random.default_rng(0)
    x = (0.3 * rng.standard_normal(5 * 22050)).astype(np.float32)  # 5 s at 22.05 kHz
    path = tmp_path / f"rec.{ext}"
    sf.write(path, x, 22050, format=ext.upper(), subtype="VORBIS" if ext == "ogg" else None)
    whole = load_audio(str(path))
    expect = load_audio(f"cat {path} |", start=1.25, end=3.5)  # pipe: decoded whole, then cut

    def no_whole_read(entry):
        raise AssertionError(f"whole-file decode of {entry}")

    monkeypatch.setattr(audio, "read_audio_raw", no_whole_read)
    seg = load_audio(str(path), start=1.25, end=3.5)
    assert len(seg) == len(expect) == 36000  # 2.25 s at 16 kHz
    if ext != "ogg":  # lossless: the same samples as the cut of the whole recording
        np.testing.assert_allclose(seg, expect, atol=1e-4)
        tail = load_audio(str(path), start=4.0, end=-1)
        # the cut is made before resampling: away from its first samples it is the same
        np.testing.assert_allclose(tail[64:], whole[-len(tail) + 64 :], atol=2e-3)
    else:  # lossy + decoder priming: same length, near-identical content
        assert np.corrcoef(seg, expect)[0, 1] > 0.95
    with pytest.raises(AudioError, match="outside the recording"):
        load_audio(str(path), utt_id="u", start=4.5, end=6.0)


def test_segment_of_a_truncated_wav_is_refused(tmp_path):
    path = write_truncated_wav(tmp_path / "t.wav")
    with pytest.raises(AudioError, match="truncated WAV"):
        load_audio(str(path), utt_id="u", start=0.0, end=0.1)


@pytest.mark.parametrize(
    "make, pattern",
    [
        (lambda d: d / "missing.wav", "missing audio"),
        (lambda d: write_truncated_wav(d / "t.wav"), "truncated WAV"),
        (lambda d: write_corrupt_wav(d / "c.wav"), "unreadable audio"),
        (lambda d: write_empty_wav(d / "e.wav"), "zero-length"),
        (lambda d: write_nan_wav(d / "n.wav"), "NaN"),
    ],
)
def test_bad_audio_is_one_line_naming_utt_and_file(tmp_path, make, pattern):
    path = make(tmp_path)
    with pytest.raises(AudioError, match=pattern) as e:
        load_audio(str(path), utt_id="spk1-0007", source="data/x/wav.scp")
    msg = str(e.value)
    assert "\n" not in msg and "spk1-0007" in msg and str(path) in msg and "wav.scp" in msg


def test_failing_and_silent_commands(tmp_path):
    with pytest.raises(AudioError, match="exited with status"):
        load_audio("sh -c 'echo oops >&2; exit 3' |", utt_id="u")
    with pytest.raises(AudioError, match="produced no output"):
        load_audio("true |", utt_id="u")


def test_wav_truncation_detector(tmp_path):
    whole = write_wav(tmp_path / "w.wav", sine(100, 0.2)).read_bytes()
    assert wav_truncation(whole) is None
    assert "truncated" in wav_truncation(whole[:-10])
    assert wav_truncation(b"fLaC....") is None  # other formats are left to libsndfile
