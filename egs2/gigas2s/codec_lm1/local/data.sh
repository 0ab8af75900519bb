#!/usr/bin/env bash
# Stage 1: GigaSpeech + GigaST (EN->ZH text) + GigaS2S (ZH target speech) -> data/{train,dev,test}
# Options: --nj N; anything after the options is passed on (key=value corpus options).
set -euo pipefail
nj=4
. ./path.sh
. ./db.sh
. utils/parse_options.sh
if [ -z "${GIGAS2S}" ]; then
  echo "local/data.sh: set GIGAS2S in db.sh (see README.md for the layout)" >&2
  exit 1
fi
python -m espnet_codec_lm.bin.prepare_data --corpus gigas2s --src "${GIGAS2S}" \
  --out data --nj "${nj}" --config conf/prepare.yaml "$@"
