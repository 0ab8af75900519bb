#!/usr/bin/env bash
# LibriTTS multi-speaker TTS (paper Table 2): VALL-E style input (3 s prompt from another
# utterance of the speaker + text), top-k 30, temperature 1.5, 5 samples per input; UTMOS,
# WER by Whisper-large-v3, SPK-SIM by RawNet3 (local models named in conf/score.yaml).
set -euo pipefail
. ./db.sh
cpt_model=${CPT_MODEL:-../../cpt_mix/codec_lm1/exp/lm_cpt_speech_text_cpt/model}
codec_dir=${CODEC_DIR:-../../cpt_mix/codec_lm1/exp/codec_paper/codec}

./codec_lm.sh \
  --ngpu 8 --nj 32 \
  --train_set train_960 --valid_set dev_clean --test_sets "test_clean" \
  --filter_config conf/filter.yaml \
  --codec_dir "${codec_dir}" \
  --base_llm "${BASE_LLM}" \
  --cpt_mode none --init "${cpt_model}" --system "Speech & Text CPT" \
  --tasks tts \
  --sft_config conf/lm/sft_tts_qwen1.5_0.5b.yaml \
  --decode_config conf/decode/tts.yaml \
  --score_config conf/score.yaml \
  "$@"
