#!/usr/bin/env bash
# Stage 1: synthesise the mini bilingual corpus (espeak-ng; no download) into data/:
# train/ dev/ test/ (EN + ZH, translations, S2ST target speech) and text_pool/.
# Options: --size tiny|default|large --nj N --seed S --out DIR (default data: codec_lm.sh's
# --datadir); key=value corpus options after them.
set -euo pipefail
nj=2
size=default
seed=0
out=data
. ./path.sh
. utils/parse_options.sh
python -m espnet_codec_lm.bin.prepare_data --corpus mini_bilingual --out "${out}" \
  --size "${size}" --seed "${seed}" --nj "${nj}" "$@"
