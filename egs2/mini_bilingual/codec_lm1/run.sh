#!/usr/bin/env bash
# The mini bilingual recipe: the whole method offline on a CPU at toy scale (make demo).
# Corpus size: MINI_SIZE=tiny|default|large ./run.sh   (default: default)
# Codec: the shipped one in pretrained/codec when present; --codec_dir "" trains one (stage 3).
set -euo pipefail
size=${MINI_SIZE:-default}
codec_dir=""
[ -f pretrained/codec/config.yaml ] && codec_dir=pretrained/codec

./codec_lm.sh \
  --nj 2 --ngpu 0 \
  --local_data_opts "--size ${size}" \
  --train_set train --valid_set dev --test_sets "test" \
  --codec_config conf/codec/debug.yaml --codec_dir "${codec_dir}" \
  --text_tokenizer bpe --bpe_vocab_size 2000 \
  --text_pools "data/text_pool/general.en data/text_pool/general.zh" \
  --mt_pools "data/text_pool/mt.en-zh.tsv" \
  --lm_config conf/lm/cpt_debug.yaml \
  --sft_config "conf/lm/sft_{task}_debug.yaml" \
  --decode_config "conf/decode/{task}.yaml" \
  --init none --cpt_mode speech_text \
  --tasks "asr tts s2tt s2st" \
  "$@"
