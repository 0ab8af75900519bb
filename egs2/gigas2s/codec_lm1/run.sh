#!/usr/bin/env bash
# GigaST EN->ZH S2TT (paper Table 3, BLEU) and GigaS2S EN->ZH S2ST (Table 4: ASR-BLEU by a
# Mandarin ASR, UTMOS). S2ST has no intermediate text; its target is one synthetic voice.
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
  --tasks "s2tt s2st" \
  --sft_config "conf/lm/sft_{task}_qwen1.5_0.5b.yaml" \
  --decode_config "conf/decode/{task}.yaml" \
  --score_config conf/score.yaml \
  "$@"
