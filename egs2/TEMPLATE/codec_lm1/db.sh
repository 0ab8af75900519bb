#!/usr/bin/env bash
# Where the corpora live on this machine (each recipe's local/data.sh reads its own variable).
# Nothing is downloaded: set the paths of the corpora you have, as unpacked from their releases.
# The layout each preparer expects is in doc/recipes.md.
LIBRISPEECH=${LIBRISPEECH:-}    # dir holding LibriSpeech/ (or LibriSpeech/ itself)
AISHELL2=${AISHELL2:-}          # dir holding AISHELL-2/ and AISHELL-DEV-TEST-SET/
LIBRITTS=${LIBRITTS:-}          # dir holding LibriTTS/
COVOST2=${COVOST2:-}            # covost_v2.*.tsv beside Common Voice 4 en/ and zh-CN/
COMMONVOICE=${COMMONVOICE:-}    # Common Voice release with en/ and zh-CN/
GIGASPEECH=${GIGASPEECH:-}      # GigaSpeech release (GigaSpeech.json, decrypted audio/)
GIGAS2S=${GIGAS2S:-}            # dir holding GigaSpeech/, GigaST/GigaST.zh.json, GigaS2S/EN2ZH/
AISHELL1=${AISHELL1:-}          # dir holding data_aishell/
export LIBRISPEECH AISHELL2 LIBRITTS COVOST2 COMMONVOICE GIGASPEECH GIGAS2S AISHELL1
