"""bin/lm_tokenizer and bin/lm_export run end to end on small inputs."""

from __future__ import annotations

import torch

from espnet_codec_lm.bin import lm_export, lm_tokenizer
from espnet_codec_lm.lm.model import SpeechLM
from espnet_codec_lm.lm.tokenizer import load_text_tokenizer
from espnet_codec_lm.testing.tiny_models import TINY_CORPUS, make_tiny_speech_lm


def test_lm_tokenizer_from_kaldi_text(tmp_path, capsys):
    text = tmp_path / "text"
    text.write_text("".join(f"utt{i:03d} {s}\n" for i, s in enumerate(TINY_CORPUS * 10)))
    out = tmp_path / "bpe"
    assert lm_tokenizer.main([str(text), "--kaldi", "--out", str(out), "--vocab-size", "900"]) == 0
    tok = load_text_tokenizer(out)
    assert tok.vocab_size == 900
    assert tok.decode(tok.encode("小猫坐在垫子上 the cat")) == "小猫坐在垫子上 the cat"
    assert "utt0" not in "".join(tok.sp.id_to_piece(i) for i in range(tok.vocab_size))
    # the prompt bank is in the training text: no prompt needs byte fallback
    from espnet_codec_lm.tasks.prompts import PromptBank

    for prompt in PromptBank.load().all_texts()[:50]:
        pieces = [tok.sp.id_to_piece(i) for i in tok.encode(prompt)]
        assert not any(p.startswith("<0x") for p in pieces), (prompt, pieces)
    before = (out / "spm.model").stat().st_mtime_ns
    assert lm_tokenizer.main([str(text), "--kaldi", "--out", str(out), "--vocab-size", "900"]) == 0
    assert (out / "spm.model").stat().st_mtime_ns == before  # rerun skipped
    bad = tmp_path / "bad_text"
    bad.write_text("utt1 hello\nutt2\n")
    capsys.readouterr()
    assert (
        lm_tokenizer.main(
            [str(bad), "--kaldi", "--out", str(tmp_path / "x"), "--vocab-size", "300"]
        )
        == 1
    )
    err = capsys.readouterr().err
    assert "bad_text:2: utterance 'utt2' has no text" in err and err.count("\n") == 1


def test_lm_export_bf16_reads_back(tmp_path, capsys):
    from transformers import AutoModelForCausalLM

    ckpt = make_tiny_speech_lm(tmp_path / "ckpt")
    out = tmp_path / "hf"
    assert (
        lm_export.main(["--checkpoint", str(ckpt), "--out", str(out), "--dtype", "bfloat16"]) == 0
    )
    hf = AutoModelForCausalLM.from_pretrained(str(out))
    assert hf.dtype == torch.bfloat16
    model = SpeechLM.from_pretrained(out)
    assert model.extra_heads[0].weight.dtype == torch.bfloat16
    assert model.layout == SpeechLM.from_pretrained(ckpt).layout
    capsys.readouterr()
    assert lm_export.main(["--checkpoint", str(tmp_path / "nope"), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "nope: checkpoint directory not found" in err and err.count("\n") == 1


def test_lm_export_text_only_round_trips_through_text_llm_init(tmp_path):
    """--text_only writes the text LLM inside a checkpoint as a base LLM: AutoModelForCausalLM
    loads it, and init text_llm from it reproduces the checkpoint's text logits."""
    from transformers import AutoModelForCausalLM

    from espnet_codec_lm.lm.build import build_speech_lm
    from espnet_codec_lm.lm.config import SpeechLMConfig
    from espnet_codec_lm.lm.vocab import STREAM_PAD

    ckpt = make_tiny_speech_lm(tmp_path / "ckpt", seed=3)
    # make the speech rows differ from any fresh init, so a copy bug would show
    model = SpeechLM.from_pretrained(ckpt).eval()
    out = tmp_path / "text_llm"
    assert lm_export.main(["--checkpoint", str(ckpt), "--out", str(out), "--text_only"]) == 0
    lay = model.layout
    hf = AutoModelForCausalLM.from_pretrained(out).eval()
    assert hf.config.vocab_size == lay.text_rows
    assert not (out / "speech_heads.safetensors").exists()

    ids = torch.tensor([[5, 17, 2, lay.text_vocab_size - 1, 40]])
    tokens = torch.full((*ids.shape, lay.num_streams), STREAM_PAD)
    tokens[..., 0] = ids
    with torch.no_grad():
        ref = model(tokens).logits[..., : lay.text_rows]
        torch.testing.assert_close(hf(ids).logits, ref, atol=1e-5, rtol=0)
        again, tok = build_speech_lm(
            SpeechLMConfig(init="text_llm", base_llm=str(out), codebook_size=lay.codebook_size)
        )
        torch.testing.assert_close(
            again.eval()(tokens).logits[..., : lay.text_rows], ref, atol=1e-5, rtol=0
        )
    assert tok.vocab_size == lay.text_vocab_size
