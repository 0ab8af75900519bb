#!/usr/bin/env bash
# LibriSpeech ASR (paper Table 1): fine-tune the CPT model for English ASR (beam 8), WER on
# test-clean / test-other. The codec and the CPT model come from ../../cpt_mix/codec_lm1.
# The other systems of the table: ./run.sh --init text_llm --system "Text LLM Initialization"
#                                 ./run.sh --init none --system "No Initialization"
set -euo pipefail
. ./db.sh
cpt_model=${CPT_MODEL:-../../cpt_mix/codec_lm1/exp/lm_cpt_speech_text_cpt/model}
codec_dir=${CODEC_DIR:-../../cpt_mix/codec_lm1/exp/codec_paper/codec}

./codec_lm.sh \
  --ngpu 8 --nj 32 \
  --train_set train_960 --valid_set dev --test_sets "test_clean test_other" \
  --filter_config conf/filter.yaml \
  --codec_dir "${codec_dir}" \
  --base_llm "${BASE_LLM}" \
  --cpt_mode none --init "${cpt_model}" --system "Speech & Text CPT" \
  --tasks asr \
  --sft_config conf/lm/sft_asr_qwen1.5_0.5b.yaml \
  --decode_config conf/decode/asr.yaml \
  "$@"
