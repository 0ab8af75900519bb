"""The running demo server (``python -m espnet_codec_lm.bin.demo --model <pack>``) driven by
``gradio_client``, as a script or another service would use it: upload a WAV and get text
back, send text and get audio back, bad input comes back as the one-line message."""

from __future__ import annotations

import pytest
import soundfile as sf
from demo_helpers import require_modules


@pytest.fixture(scope="module")
def client(server):
    require_modules("gradio_client")
    from gradio_client import Client

    return Client(server, verbose=False)


def test_the_four_tasks_are_its_api(client):
    api = client.view_api(print_info=False, return_format="dict")
    assert sorted(api["named_endpoints"]) == ["/asr", "/s2st", "/s2tt", "/tts"]


def test_upload_a_wav_get_text(client, utterances):
    from gradio_client import handle_file

    u, wav = utterances["zh"]
    text, info = client.predict(handle_file(str(wav)), "zh", api_name="/asr")
    assert any("\u4e00" <= ch <= "\u9fff" for ch in text), text
    assert len(set(text) & set(u.text)) >= 3, (u.text, text)
    assert info.startswith("ASR in ")


def test_send_text_get_audio(client, utterances):
    u, ref = utterances["en"]
    audio, spectrogram, info = client.predict(u.text, "en", None, api_name="/tts")
    wav, sr = sf.read(audio)
    assert sr == 16000 and 0.3 * sf.info(str(ref)).duration < len(wav) / sr < 30
    with open(spectrogram, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    assert info.startswith("TTS in ") and "real-time factor" in info


def test_bad_input_comes_back_as_one_line(client, tmp_path):
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError) as e:
        client.predict("   ", "en", None, api_name="/tts")
    assert str(e.value) == "text: empty (type a sentence to synthesise)"
    notes = tmp_path / "notes.wav"
    notes.write_text("not audio\n")
    with pytest.raises(AppError) as e:
        client.predict(handle_file(str(notes)), "en", api_name="/asr")
    assert str(e.value) == "speech: notes.wav is not a readable audio file (WAV, FLAC, OGG or MP3)"
