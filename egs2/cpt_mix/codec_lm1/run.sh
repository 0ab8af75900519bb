#!/usr/bin/env bash
# Continual pre-training on the paper's corpus mix (SPEC section 6): train the codec on the mix
# (stage 3), tokenize it, then CPT from the base text LLM. Default: Speech & Text CPT (the six
# tasks + 10% text-only data). Speech-only CPT:
#   ./run.sh --cpt_mode speech --lm_config conf/lm/cpt_speech_qwen1.5_0.5b.yaml
# The downstream recipes (librispeech, aishell2, libritts, covost2, gigas2s) fine-tune the
# result: exp/lm_cpt_<system>/model, with the codec exp/codec_paper/codec.
set -euo pipefail
. ./db.sh

./codec_lm.sh \
  --ngpu 8 --nj 32 \
  --train_set train --valid_set dev --test_sets "" \
  --filter_config conf/filter.yaml \
  --codec_config conf/codec/paper.yaml \
  --base_llm "${BASE_LLM}" \
  --text_pools "${TEXT_POOLS}" --mt_pools "${MT_POOLS}" \
  --lm_config conf/lm/cpt_speech_text_qwen1.5_0.5b.yaml \
  --init text_llm --cpt_mode speech_text \
  --tasks "" --stop_stage 6 \
  "$@"
