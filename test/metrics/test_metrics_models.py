"""Model-based metrics loaded from disk as a user would: RawNet3 (SPK-SIM), UTMOS, Whisper."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import yaml

from espnet_codec_lm.metrics.asr import SpeechRecognizer, WhisperRecognizer, load_recognizer
from espnet_codec_lm.metrics.config import ASRModelConfig, ModelUnavailable
from espnet_codec_lm.metrics.speaker import (
    SpeakerEmbedder,
    build_speaker_model,
    load_speaker_model,
)
from espnet_codec_lm.metrics.utmos import MOSPredictor, UTMOS22Strong, load_mos_model
from espnet_codec_lm.testing.audio import speech_like


def test_cosine_similarity_hand_computed():
    a, b = np.array([1.0, 0.0]), np.array([1.0, 1.0])
    assert SpeakerEmbedder.similarity(a, b) == pytest.approx(1 / np.sqrt(2))
    assert SpeakerEmbedder.similarity(a, -a) == pytest.approx(-1.0)
    assert SpeakerEmbedder.similarity(a, np.zeros(2)) == 0.0


def test_rawnet3_loads_from_espnet_dir(tiny_rawnet3_dir):
    from metrics_tiny_conf import TINY_SPK_CONF

    spk = load_speaker_model(str(tiny_rawnet3_dir))
    wav_a = speech_like(1.0, rng=np.random.default_rng(1), f0=110)
    wav_b = speech_like(1.0, rng=np.random.default_rng(2), f0=220)
    ea, eb = spk.embed(wav_a), spk.embed(wav_b)
    assert ea.shape == (8,)
    assert spk.similarity(ea, spk.embed(wav_a)) == pytest.approx(1.0, abs=1e-6)
    assert -1.0 <= spk.similarity(ea, eb) < 0.9999
    # the weights on disk are the ones used: same embedding as the model that was saved
    torch.manual_seed(0)
    ref = build_speaker_model(TINY_SPK_CONF).eval()
    with torch.no_grad():
        expected = ref(torch.from_numpy(wav_a)[None], None, extract_embd=True)[0].numpy()
    np.testing.assert_allclose(ea, expected, rtol=1e-5, atol=1e-6)
    # very short audio is tiled rather than crashing the pooling stack
    assert np.isfinite(spk.embed(wav_a[:1000])).all()


def test_rawnet3_weights_file_and_errors(tiny_rawnet3_dir, tmp_path):
    pth = next(tiny_rawnet3_dir.rglob("*.pth"))
    assert SpeakerEmbedder(pth).embed(np.zeros(8000, np.float32) + 0.01).shape == (8,)
    with pytest.raises(ModelUnavailable, match="no speaker-embedding model"):
        load_speaker_model(None)
    with pytest.raises(ModelUnavailable, match="not found"):
        load_speaker_model(str(tmp_path / "nope"))
    # a checkpoint that does not match its config is an error naming the file
    bad = tmp_path / "bad"
    bad.mkdir()
    conf = yaml.safe_load((pth.parent / "config.yaml").read_text())
    conf["encoder_conf"]["ndim"] = 32
    (bad / "config.yaml").write_text(yaml.safe_dump(conf))
    (bad / "m.pth").write_bytes(pth.read_bytes())
    with pytest.raises((ValueError, RuntimeError), match="m.pth|size mismatch"):
        SpeakerEmbedder(bad)


def test_utmos_checkpoint_round_trip(tiny_utmos_ckpt):
    path, model = tiny_utmos_ckpt
    mos = load_mos_model(str(path))
    assert mos.model.arch["hidden"] == 24 and mos.model.arch["num_layers"] == 1
    wav = speech_like(1.2, rng=np.random.default_rng(3))
    with torch.no_grad():
        expected = float(model(torch.from_numpy(wav)[None])[0])
    assert mos.predict(wav) == pytest.approx(expected, abs=1e-5)
    # the score is 2 * mean(frame scores) + 3: recompute it from the parts
    with torch.no_grad():
        x = torch.from_numpy(wav)[None]
        units = mos.model.wav2vec2(x).last_hidden_state
        t = units.shape[1]
        cat = torch.cat(
            [units, mos.model.domain_emb.expand(1, t, -1), mos.model.judge_emb.expand(1, t, -1)], 2
        )
        frames = mos.model.projection(mos.model.blstm(cat)[0])
    assert mos.predict(wav) == pytest.approx(2 * float(frames.mean()) + 3, abs=1e-5)
    with pytest.raises(ValueError, match="too short"):
        mos.predict(wav[:100])


def test_utmos_keys_and_errors(tiny_utmos_ckpt, tmp_path):
    path, _ = tiny_utmos_ckpt
    sd = torch.load(path, weights_only=True)
    # the SpeechMOS / fairseq key layout of utmos22_strong_step7459_v1.pt
    for key in (
        "wav2vec2.feature_extractor.conv_layers.0.2.weight",
        "wav2vec2.post_extract_proj.weight",
        "wav2vec2.encoder.pos_conv.0.weight_g",
        "wav2vec2.encoder.layers.0.self_attn.q_proj.weight",
        "wav2vec2.encoder.layers.0.fc1.weight",
        "blstm.weight_ih_l0_reverse",
        "projection.2.weight",
        "judge_emb",
    ):
        assert key in sd, key
    assert UTMOS22Strong.arch_from_state_dict(sd)["conv_kernels"] == (10, 3, 3, 3, 3, 2, 2)
    with pytest.raises(ModelUnavailable, match="no UTMOS"):
        load_mos_model("")
    with pytest.raises(ModelUnavailable, match="not found"):
        load_mos_model(str(tmp_path / "missing.pt"))
    del sd["blstm.weight_hh_l0"]
    torch.save(sd, tmp_path / "broken.pt")
    with pytest.raises(ValueError, match="not a UTMOS22"):
        MOSPredictor(tmp_path / "broken.pt")


def test_utmos_default_sizes_match_release():
    # the released strong learner: wav2vec 2.0 Base + 128/128 embeddings, BLSTM 512, proj 2048
    arch = UTMOS22Strong.__init__.__defaults__
    assert arch == (512, (10, 3, 3, 3, 3, 2, 2), 768, 12, 3072, 128, 16, 128, 128, 512, 2048)


def test_whisper_path_runs(tiny_whisper_dir):
    asr = load_recognizer(ASRModelConfig(kind="whisper", path=str(tiny_whisper_dir)))
    assert isinstance(asr, WhisperRecognizer) and isinstance(asr, SpeechRecognizer)
    wavs = [speech_like(0.5, rng=np.random.default_rng(i)) for i in range(3)]
    for lang in ("en", "zh"):
        out = asr.transcribe(wavs, 16000, lang)
        assert len(out) == 3 and all(isinstance(t, str) for t in out)
    assert asr.transcribe(wavs[:1], 16000, "en") == asr.transcribe(wavs[:1], 16000, "en")
    with pytest.raises(ValueError, match="16000 Hz"):
        asr.transcribe(wavs, 8000, "en")


def test_recognizer_unavailable_reasons(tmp_path):
    with pytest.raises(ModelUnavailable, match="asr.kind: none"):
        load_recognizer(ASRModelConfig())
    with pytest.raises(ModelUnavailable, match="Whisper model directory not found"):
        load_recognizer(ASRModelConfig(kind="whisper", path=str(tmp_path)))
    with pytest.raises(ModelUnavailable, match="not importable"):
        load_recognizer(ASRModelConfig(kind="toolkit", path=str(tmp_path), loader="no_such_mod:f"))
    asr = load_recognizer(
        ASRModelConfig(
            kind="toolkit", path=str(tmp_path), loader="metrics_fake_asr:load_lookup_asr"
        )
    )
    assert asr.transcribe([np.zeros(10, np.float32)], 16000, "en") == [""]
