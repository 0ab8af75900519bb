"""Punctuation-restoration and translation hooks: identity defaults, Python callables by path,
Hugging Face models from a local directory."""

from __future__ import annotations

import shutil

import pytest
import torch

from espnet_codec_lm.data.hooks import (
    HookConfig,
    identity_punctuator,
    identity_translator,
    load_punctuator,
    load_translator,
)
from espnet_codec_lm.tasks.corpus import SpeechSetConfig
from espnet_codec_lm.tasks.dataset import load_corpora

HOOKS_PY = """
def punct(texts, lang):
    end = "." if lang == "en" else "。"
    return [t.rstrip(".。") + end + "!" for t in texts]

def translate(texts, src, tgt):
    return [f"<{src}-{tgt}> {t}" for t in texts]
"""


def test_identity_defaults():
    assert load_punctuator(HookConfig()) is identity_punctuator
    assert load_translator(HookConfig()) is identity_translator
    assert identity_punctuator(["a b"], "en") == ["a b"]
    assert identity_translator(["a b"], "en", "zh") == [None]


def test_python_hooks_fill_transcripts_and_missing_translations(syn, tmp_path):
    (tmp_path / "myhooks.py").write_text(HOOKS_PY)
    d = tmp_path / "train"
    shutil.copytree(syn.root / "train", d)
    (d / "text.zh").unlink()  # English utterances lose their translations
    cfg = syn.data_config(
        speech_sets=[
            SpeechSetConfig(str(d), str(syn.root / "codes/train/codes.scp"), punctuate=True)
        ],
        punctuation=HookConfig(kind="python", path=f"{tmp_path / 'myhooks.py'}:punct"),
        translation=HookConfig(kind="python", path=f"{tmp_path / 'myhooks.py'}:translate"),
    )
    corpora = load_corpora(cfg, syn.layout, syn.tokenizer)
    en = [s for s in corpora["speech"].samples if s.lang == "en"]
    zh = [s for s in corpora["speech"].samples if s.lang == "zh"]
    assert all(s.text.endswith(".!") for s in en) and all(s.text.endswith("。!") for s in zh)
    assert all(s.translation.startswith("<en-zh> ") and s.tgt_lang == "zh" for s in en)
    assert not any(s.translation.startswith("<") for s in zh)  # kept their text.en
    s = en[0]
    assert s.text_ids.tolist() == syn.tokenizer.encode(s.text)
    assert s.translation_ids.tolist() == syn.tokenizer.encode(s.translation)
    # the MT pool is untouched (it has its pairs) and the text pools are not punctuated
    assert not corpora["text"].samples[0].text.endswith("!")


def test_without_translation_hook_untranslated_utterances_leave_translation_tasks(syn, tmp_path):
    d = tmp_path / "train"
    shutil.copytree(syn.root / "train", d)
    (d / "text.zh").unlink()
    cfg = syn.data_config(
        speech_sets=[SpeechSetConfig(str(d), str(syn.root / "codes/train/codes.scp"))]
    )
    speech = load_corpora(cfg, syn.layout, syn.tokenizer)["speech"]
    s2tt = speech.eligible(("codes", "translation"))
    assert len(s2tt) == len(speech) // 2
    assert all(speech.samples[i].lang == "zh" for i in s2tt)


def test_bad_python_hook_spec():
    with pytest.raises(ValueError, match="expected 'module:function'"):
        load_punctuator(HookConfig(kind="python", path="nocolon"))
    with pytest.raises(ValueError, match="not a callable"):
        load_punctuator(HookConfig(kind="python", path="os.path:nothing_here"))
    with pytest.raises(ValueError, match="model directory .* not found"):
        load_punctuator(HookConfig(kind="hf", path="/nonexistent/model"))


def _tiny_punctuation_model(path, favour: str):
    from transformers import BertConfig, BertForTokenClassification, BertTokenizerFast

    path.mkdir()
    words = "hello world this is a test".split()
    (path / "vocab.txt").write_text(
        "\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words])
    )
    tok = BertTokenizerFast(vocab_file=str(path / "vocab.txt"), do_lower_case=True)
    labels = ["OO", ".U", ",O", "?O", "OU"]
    cfg = BertConfig(
        vocab_size=5 + len(words), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=32, num_labels=len(labels),
        id2label=dict(enumerate(labels)), label2id={v: i for i, v in enumerate(labels)},
    )  # fmt: skip
    torch.manual_seed(0)
    model = BertForTokenClassification(cfg)
    with torch.no_grad():  # make the wanted label win everywhere
        model.classifier.weight.zero_()
        model.classifier.bias.copy_(
            torch.tensor([10.0 if lab == favour else 0.0 for lab in labels])
        )
    model.save_pretrained(path)
    tok.save_pretrained(path)


def test_hf_punctuation_model_from_a_local_directory(tmp_path):
    _tiny_punctuation_model(tmp_path / "p1", ".U")
    punct = load_punctuator(HookConfig(kind="hf", path=str(tmp_path / "p1")))
    assert punct(["hello world", "this is a test"], "en") == ["Hello. World.", "This. Is. A. Test."]
    assert punct(["你好"], "zh") == ["你.好."]  # Mandarin: one label per character
    _tiny_punctuation_model(tmp_path / "p2", "OO")
    punct = load_punctuator(HookConfig(kind="hf", path=str(tmp_path / "p2")))
    assert punct(["hello world"], "en") == ["hello world"]


def test_hf_translation_model_from_a_local_directory(tmp_path):
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast, T5Config, T5ForConditionalGeneration

    vocab = {"<pad>": 0, "</s>": 1, "<unk>": 2, "hello": 3, "world": 4, "nihao": 5}
    raw = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    raw.pre_tokenizer = pre_tokenizers.Whitespace()
    tok = PreTrainedTokenizerFast(
        tokenizer_object=raw, pad_token="<pad>", eos_token="</s>", unk_token="<unk>"
    )
    cfg = T5Config(
        vocab_size=len(vocab), d_model=16, d_ff=32, num_layers=1, num_heads=2, d_kv=8,
        decoder_start_token_id=0, pad_token_id=0, eos_token_id=1,
    )  # fmt: skip
    torch.manual_seed(0)
    model = T5ForConditionalGeneration(cfg)
    with torch.no_grad():  # flat logits; the generation config below leaves one path
        model.lm_head.weight.zero_()
    # first step: only "nihao" (5) or "</s>" (1) allowed, "</s>" banned -> "nihao"; then
    # the first of the tied maxima, "</s>", ends it
    model.generation_config.suppress_tokens = [0, 2, 3, 4]
    model.generation_config.begin_suppress_tokens = [1]
    d = tmp_path / "mt-en-zh"
    model.save_pretrained(d)
    tok.save_pretrained(d)
    trans = load_translator(
        HookConfig(kind="hf", path=str(tmp_path / "mt-{src}-{tgt}"), max_new_tokens=3)
    )
    assert trans(["hello world", "world"], "en", "zh") == ["nihao", "nihao"]
    with pytest.raises(ValueError, match="mt-zh-en"):
        trans(["nihao"], "zh", "en")  # no model for this direction
