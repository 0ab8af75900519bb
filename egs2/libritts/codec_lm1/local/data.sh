#!/usr/bin/env bash
# Stage 1: LibriTTS (24 kHz WAV + .normalized.txt) -> data/<subset>, data/train_960
# Options: --nj N; anything after the options is passed on (key=value corpus options).
set -euo pipefail
nj=4
. ./path.sh
. ./db.sh
. utils/parse_options.sh
if [ -z "${LIBRITTS}" ]; then
  echo "local/data.sh: set LIBRITTS in db.sh (see README.md for the layout)" >&2
  exit 1
fi
python -m espnet_codec_lm.bin.prepare_data --corpus libritts --src "${LIBRITTS}" \
  --out data --nj "${nj}" --config conf/prepare.yaml "$@"
