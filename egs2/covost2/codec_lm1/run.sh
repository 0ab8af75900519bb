#!/usr/bin/env bash
# CoVoST 2 S2TT EN->ZH and ZH->EN (paper Table 3): one fine-tuning on both directions, BLEU
# (sacrebleu, zh tokenisation for Mandarin targets) per direction.
set -euo pipefail
. ./db.sh
cpt_model=${CPT_MODEL:-../../cpt_mix/codec_lm1/exp/lm_cpt_speech_text_cpt/model}
codec_dir=${CODEC_DIR:-../../cpt_mix/codec_lm1/exp/codec_paper/codec}

./codec_lm.sh \
  --ngpu 8 --nj 32 \
  --train_set train --valid_set dev --test_sets "test_en_zh test_zh_en" \
  --filter_config conf/filter.yaml \
  --codec_dir "${codec_dir}" \
  --base_llm "${BASE_LLM}" \
  --cpt_mode none --init "${cpt_model}" --system "Speech & Text CPT" \
  --tasks s2tt \
  --sft_config conf/lm/sft_s2tt_qwen1.5_0.5b.yaml \
  --decode_config conf/decode/s2tt.yaml \
  "$@"
