#!/usr/bin/env bash
# AISHELL-2 Mandarin ASR (paper Table 1): fine-tune the CPT model, CER on the iOS test set.
set -euo pipefail
. ./db.sh
cpt_model=${CPT_MODEL:-../../cpt_mix/codec_lm1/exp/lm_cpt_speech_text_cpt/model}
codec_dir=${CODEC_DIR:-../../cpt_mix/codec_lm1/exp/codec_paper/codec}

./codec_lm.sh \
  --ngpu 8 --nj 32 \
  --train_set train --valid_set dev --test_sets "test" \
  --filter_config conf/filter.yaml \
  --codec_dir "${codec_dir}" \
  --base_llm "${BASE_LLM}" \
  --cpt_mode none --init "${cpt_model}" --system "Speech & Text CPT" \
  --tasks asr \
  --sft_config conf/lm/sft_asr_qwen1.5_0.5b.yaml \
  --decode_config conf/decode/asr.yaml \
  "$@"
