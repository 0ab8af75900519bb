#!/usr/bin/env bash
# Where corpora and models live on this machine. Nothing is downloaded: set the paths of what
# you have, as unpacked from its release (doc/recipes.md shows the layout each preparer reads).
# Every variable can also come from the environment: LIBRISPEECH=/db/ls ./run.sh

# ---- corpora (each recipe's local/data.sh reads its own)
LIBRISPEECH=${LIBRISPEECH:-}    # dir holding LibriSpeech/ (or LibriSpeech/ itself)
AISHELL2=${AISHELL2:-}          # dir holding AISHELL-2/ and AISHELL-DEV-TEST-SET/
LIBRITTS=${LIBRITTS:-}          # dir holding LibriTTS/
COVOST2=${COVOST2:-}            # covost_v2.*.tsv beside Common Voice 4's en/ and zh-CN/
COMMONVOICE=${COMMONVOICE:-}    # a Common Voice release with en/ and zh-CN/
GIGASPEECH=${GIGASPEECH:-}      # GigaSpeech release (GigaSpeech.json + decrypted audio/)
GIGAS2S=${GIGAS2S:-}            # dir holding GigaSpeech/, GigaST/GigaST.zh.json, GigaS2S/EN2ZH/
AISHELL1=${AISHELL1:-}          # dir holding data_aishell/
AISHELL3=${AISHELL3:-}          # dir holding data_aishell3/ (or its train/ test/)
WENETSPEECH=${WENETSPEECH:-}    # WenetSpeech release (WenetSpeech.json + audio/)
MLS_ENGLISH=${MLS_ENGLISH:-}    # mls_english/ (train/ dev/ test/ with transcripts.txt)
TEDLIUM3=${TEDLIUM3:-}          # TEDLIUM_release-3/
TEXT_POOLS=${TEXT_POOLS:-}      # text-only CPT data: files of one sentence a line (space-separated)
MT_POOLS=${MT_POOLS:-}          # MT pairs: <name>.<src>-<tgt>.tsv files or dirs with text + text.<lang>

# ---- models (local directories)
BASE_LLM=${BASE_LLM:-}          # Hugging Face directory of the base LLM (Qwen1.5-0.5B)
export LIBRISPEECH AISHELL2 LIBRITTS COVOST2 COMMONVOICE GIGASPEECH GIGAS2S AISHELL1 AISHELL3 \
  WENETSPEECH MLS_ENGLISH TEDLIUM3 TEXT_POOLS MT_POOLS BASE_LLM
