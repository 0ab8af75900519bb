"""The paper-scale DualSpeechLM config builds and trains one step when its base LLM is a tiny
random Qwen2 (everything else as written: the acoustic decoder's depth and heads, CoC, the loss
weights, the USToken frame rate)."""

from __future__ import annotations

from pathlib import Path

import torch
import yaml
from dual_helpers import AC_SIZE, AC_STREAMS, UST_SIZE
from dual_helpers import train as _train

from espnet_codec_lm.dual.model import DualSpeechLM
from espnet_codec_lm.testing.tiny_models import make_tiny_base_llm
from espnet_codec_lm.train.logger import read_log

CONF = Path(__file__).resolve().parents[2] / "egs2/TEMPLATE/codec_lm1/conf/lm"


def test_paper_dual_config_runs_one_step_on_a_tiny_base(tmp_path, dual_corpus):
    ust, ac = dual_corpus
    cfg = yaml.safe_load((CONF / "dual_sft_qwen1.5_0.5b.yaml").read_text())
    dec = cfg["model"]["dual"]["decoder"]
    assert (dec["num_hidden_layers"], dec["num_attention_heads"]) == (6, 8)  # the paper's
    assert cfg["model"]["num_streams"] == 1 and cfg["data"]["build"]["frame_rate"] == 25.0
    base = make_tiny_base_llm(tmp_path / "base")
    speech = {"data_dir": str(ust.root / "train"), "codes": str(ust.root / "codes/train/codes.scp"),
              "codes_tgt": str(ust.root / "codes/train/codes_tgt.scp")}  # fmt: skip
    cfg["model"].update(base_llm=str(base),
                        codebook_size=UST_SIZE)  # fmt: skip
    cfg["model"]["dual"].update(acoustic_streams=AC_STREAMS, acoustic_codebook_size=AC_SIZE)
    dec.update(hidden_size=64, intermediate_size=128)  # width only: depth and heads as written
    cfg["data"].update(speech_sets=[speech], valid_batches=1)
    cfg["data"]["acoustic"].update(
        codes=[str(ac.root / "codes/train/codes.scp")],
        codes_tgt=[str(ac.root / "codes/train/codes_tgt.scp")],
    )
    cfg["batch"] = {"global_sequences": 2, "micro_batch": 2, "max_len": 512}
    cfg["stop"] = {"max_steps": 1}
    cfg["log"] = {"every_steps": 1, "tensorboard": False}
    path = tmp_path / "dual.yaml"
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True), encoding="utf-8")
    _train(path, tmp_path / "exp")
    (row,) = read_log(tmp_path / "exp" / "train_log.jsonl")
    assert torch.isfinite(torch.tensor(row["loss"])) and "loss/head1" in row
    model = DualSpeechLM.from_pretrained(tmp_path / "exp" / "model")
    assert len(model.acoustic.body.layers) == 6 and model.dual_cfg.coc_infer == "full"
