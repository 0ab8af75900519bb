"""Paper configuration from a Qwen1.5-0.5B-shaped config.json: vocabulary and parameter count.

No weights are created: the model is built on the meta device."""

from __future__ import annotations

import json

import pytest

from espnet_codec_lm.lm.build import speech_lm_on_meta
from espnet_codec_lm.lm.model import parameter_count
from espnet_codec_lm.lm.vocab import VocabLayout

# the architecture fields of Qwen1.5-0.5B's config.json (Hugging Face format)
QWEN15_05B = {
    "architectures": ["Qwen2ForCausalLM"],
    "model_type": "qwen2",
    "hidden_size": 1024,
    "intermediate_size": 2816,
    "num_hidden_layers": 24,
    "num_attention_heads": 16,
    "num_key_value_heads": 16,
    "max_position_embeddings": 32768,
    "rope_theta": 1000000.0,
    "rms_norm_eps": 1e-06,
    "tie_word_embeddings": False,
    "vocab_size": 151936,
}
QWEN15_TOKENIZER_SIZE = 151643  # BPE tokens (3 special tokens follow, inside the 151,936 rows)


@pytest.fixture
def qwen_config_file(tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps(QWEN15_05B, indent=2))
    return path


def test_vocabulary_is_155012(qwen_config_file):
    cfg = json.loads(qwen_config_file.read_text())
    layout = VocabLayout.from_configs(
        cfg, text_vocab_size=QWEN15_TOKENIZER_SIZE, num_streams=3, codebook_size=1024
    )
    assert layout.size == 155_012
    assert layout.codebook_range(0) == (151_936, 152_960)
    assert layout.codebook_range(2) == (153_984, 155_008)
    assert (layout.speech_start, layout.text_end) == (155_008, 155_011)
    # the count follows the inputs, nothing is hard-coded
    assert VocabLayout.from_configs(cfg, QWEN15_TOKENIZER_SIZE, 8, 1024).size == 151_936 + 8192 + 4


@pytest.mark.parametrize("tied", [False, True])
def test_parameter_count_on_meta_device(qwen_config_file, tied):
    cfg = {**json.loads(qwen_config_file.read_text()), "tie_word_embeddings": tied}
    model = speech_lm_on_meta(cfg, QWEN15_TOKENIZER_SIZE, num_streams=3, codebook_size=1024)
    assert next(model.parameters()).is_meta
    counts = parameter_count(model)
    h, f, n_layers, vocab = 1024, 2816, 24, 155_012
    # q, k, v with bias; o without; SwiGLU MLP; two RMSNorms per layer; one final norm
    per_layer = 3 * (h * h + h) + h * h + 3 * h * f + 2 * h
    assert counts["transformer"] == n_layers * per_layer + h == 308_405_248
    assert counts["embedding"] == vocab * h == 158_732_288
    assert counts["lm_head"] == (0 if tied else vocab * h)
    assert counts["extra_heads"] == 2 * 1024 * h
    assert counts["total"] == sum(p.numel() for p in model.parameters())
    # the paper's 943.5M: every head a full 155,012 x 1,024 projection (untied main head)
    paper_style = counts["transformer"] + counts["embedding"] + 3 * vocab * h
    assert paper_style == pytest.approx(943.5e6, rel=5e-4)
    if not tied:
        assert counts["total"] == 627_966_976  # 315.4M fewer than the paper's layout
