"""SpeechLM.probe_attention: SDPA everywhere, the chosen heads' probabilities equal eager's."""

from __future__ import annotations

import json

import pytest
import torch

from espnet_codec_lm.lm.build import build_speech_lm
from espnet_codec_lm.lm.config import SpeechLMConfig
from espnet_codec_lm.lm.model import SpeechLMError
from espnet_codec_lm.lm.vocab import STREAM_PAD


def _pair(base):
    """The same tiny SpeechLM twice: eager attention, and SDPA probing heads 3, 0 of layer 1."""
    models = []
    for attn in ("eager", "sdpa"):
        torch.manual_seed(0)
        cfg = SpeechLMConfig(
            init="text_llm", base_llm=str(base), codebook_size=16, attn_implementation=attn
        )
        models.append(build_speech_lm(cfg)[0].eval())
    eager, probed = models
    probed.probe_attention([1], [3, 0])
    return eager, probed


def _tokens(model, rows=2, length=14, seed=0):
    g = torch.Generator().manual_seed(seed)
    lay = model.layout
    codes = torch.randint(0, lay.codebook_size, (rows, length, lay.num_streams), generator=g)
    tokens = torch.as_tensor(lay.codes_to_ids(codes.reshape(-1, lay.num_streams).numpy()))
    tokens = tokens.reshape(rows, length, lay.num_streams)
    tokens[:, :4, 1:] = STREAM_PAD  # a few text positions
    tokens[:, :4, 0] = torch.randint(10, 200, (rows, 4), generator=g)
    return tokens


@pytest.mark.parametrize("layout", ["packed", "left_padded"])
def test_probed_heads_equal_eager(tiny_base, layout):
    eager, probed = _pair(tiny_base)
    tokens = _tokens(eager)
    kw = {}
    if layout == "packed":  # two examples per row: positions restart, block-diagonal mask
        kw["position_ids"] = torch.cat([torch.arange(6), torch.arange(8)]).repeat(2, 1)
    else:
        kw["attention_mask"] = torch.ones(2, 14, dtype=torch.long)
        kw["attention_mask"][0, :5] = 0
    ref = eager(tokens, return_attentions=True, return_hidden=True, **kw)
    out = probed(tokens, return_attentions=True, return_hidden=True, **kw)
    assert len(out.attentions) == 1 and out.attentions[0].shape == (2, 2, 14, 14)
    got, want = out.attentions[0], ref.attentions[1][:, [3, 0]]
    h, h_ref = out.hidden_states, ref.hidden_states
    if layout == "left_padded":  # padded queries see nothing (eager and SDPA differ): real ones
        got, want, h, h_ref = got[:, :, 5:], want[:, :, 5:], h[:, 5:], h_ref[:, 5:]
    else:
        assert float(got[0, 0, 7, :6].detach().sum()) == 0.0  # the 2nd example does not see the 1st
    torch.testing.assert_close(got, want, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(h, h_ref, atol=1e-5, rtol=1e-4)


def test_probe_gradient_and_saved_config(tiny_base, tmp_path):
    eager, probed = _pair(tiny_base)
    tokens = _tokens(eager)
    grads = []
    for model in (eager, probed):
        model.train()
        att = model(tokens, return_attentions=True).attentions
        att = att[1][:, [3, 0]] if model is eager else att[0]
        att[..., :4].sum().backward()  # attention on the text positions
        grads.append(model.lm.model.layers[1].self_attn.q_proj.weight.grad.clone())
    assert grads[1].abs().sum() > 0
    torch.testing.assert_close(grads[1], grads[0], atol=1e-5, rtol=1e-4)
    # without return_attentions nothing is reported; the saved model keeps the default attention
    assert probed(tokens).attentions is None
    probed.save_pretrained(tmp_path / "m")
    saved = json.loads((tmp_path / "m" / "config.json").read_text())
    assert saved.get("_attn_implementation") in (None, "sdpa")
    with pytest.raises(SpeechLMError, match="out of range"):
        probed.probe_attention([2], [0])
    with pytest.raises(SpeechLMError, match="empty"):
        probed.probe_attention([0], [])
