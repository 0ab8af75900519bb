"""DualSpeechLM through the decode stage: TTS / S2ST samples are acoustic codes rendered from the
LLM's USTokens, written with their waveforms; ASR decodes the same checkpoint as any SpeechLM."""

from __future__ import annotations

import kaldiio
import numpy as np
import soundfile as sf
import torch
import yaml
from dual_helpers import AC_SIZE, AC_STREAMS, tiny_dual

from espnet_codec_lm.bin.lm_decode import main as lm_decode_main
from espnet_codec_lm.config import load_config
from espnet_codec_lm.data.kaldi_io import read_table
from espnet_codec_lm.decode.config import LMDecodeConfig
from espnet_codec_lm.decode.stage import run_lm_decode
from espnet_codec_lm.dual.data import load_acoustic
from espnet_codec_lm.dual.render import AcousticRenderer
from espnet_codec_lm.testing.tiny_models import make_tiny_codec

FAST = ["decoding.text.max_len_cap=6", "decoding.speech.max_len_cap=8", "decoding.batch_size=4"]


def _model_dir(tmp_path, dual_corpus):
    ust, _ = dual_corpus
    model = tiny_dual(ust.layout)
    model.save_pretrained(tmp_path / "exp" / "model", tokenizer=ust.tokenizer)
    make_tiny_codec(tmp_path / "exp" / "codec", codebook_size=AC_SIZE)
    return tmp_path / "exp"


def test_dual_tts_writes_rendered_acoustic_codes_and_wavs(tmp_path, dual_corpus):
    ust, ac = dual_corpus
    exp = _model_dir(tmp_path, dual_corpus)
    data, codes = ust.root / "train", ust.root / "codes/train/codes.scp"
    cfg = load_config(LMDecodeConfig, None, [*FAST, "task=tts", "speaker_prompt_s=0.2",
                                              "decoding.speech.num_samples=2"])  # fmt: skip
    out = run_lm_decode(
        cfg, data, codes, exp, out_dir=tmp_path / "tts",
        acoustic_codes=ac.root / "codes/train/codes.scp",
    )  # fmt: skip
    utts = sorted(read_table(data / "text"))
    for k in range(2):
        scp = read_table(out / f"sample_{k}" / "wav.scp")
        got = dict(kaldiio.load_scp(str(out / f"sample_{k}" / "codes.scp")).items())
        assert sorted(scp) == sorted(got) == utts
        for u in utts[:4]:
            c = got[u]
            assert c.ndim == 2 and c.shape[1] == AC_STREAMS  # acoustic codes, not USTokens
            assert c.min() >= 0 and c.max() < AC_SIZE
            wav, sr = sf.read(scp[u])
            assert sr == 16000 and len(wav) == 320 * max(len(c), 1)
    meta = yaml.safe_load((out / "meta.yaml").read_text())
    assert meta["num_samples"] == 2
    # the USToken prompt: 0.2 s = 5 USTokens (25 Hz) of another utterance of the speaker
    prompts = read_table(out / "speaker_prompt")
    assert all(desc.split()[2] == "5" for desc in prompts.values())


def test_renderer_prompts_follow_the_llm_prompt_and_stop_by_themselves(dual_corpus):
    ust, ac = dual_corpus
    model = tiny_dual(ust.layout).eval()
    acoustic = load_acoustic([str(ac.root / "codes/train/codes.scp")], AC_STREAMS, AC_SIZE)
    utt, other = sorted(acoustic)[:2]
    r = AcousticRenderer(model, "tts", acoustic, {utt: f"{other} 3 5"}, 2.0, 10, seed=1)
    assert np.array_equal(r.speaker_prompt(utt), acoustic[other][6:16])  # 3..8 at 25 Hz x 2
    s2st = AcousticRenderer(model, "s2st", acoustic, {}, 2.0, 10)
    assert np.array_equal(s2st.speaker_prompt(utt), acoustic[utt][:10])  # the source's voice
    with torch.no_grad():  # end of speech certain from the first frame on
        model.acoustic.main_head.weight.zero_()
        model.acoustic.main_head.weight[model.acoustic.eos, 0] = 50.0
        model.acoustic.body.norm.weight.fill_(1.0)
    lay = ust.layout
    prefix = np.full((4, 1), lay.text_start, np.int64)
    prefix[-1, 0] = lay.speech_start
    ((codes, ended),) = r.render(utt, prefix, [np.zeros((6, 1), np.int64)], [0])
    assert codes.shape[1] == AC_STREAMS and len(codes) <= 6 * 2 * 2 + 50


def test_dual_checkpoint_decodes_asr_through_the_cli(tmp_path, dual_corpus):
    ust, _ = dual_corpus
    exp = _model_dir(tmp_path, dual_corpus)
    rc = lm_decode_main([
        "--data_dir", str(ust.root / "train"), "--codes", str(ust.root / "codes/train/codes.scp"),
        "--lm", str(exp), "--out_dir", str(tmp_path / "asr"), "task=asr", *FAST,
    ])  # fmt: skip
    assert rc == 0
    lines = (tmp_path / "asr" / "text").read_text(encoding="utf-8").splitlines()
    assert len(lines) == len(read_table(ust.root / "train" / "text"))
