#!/usr/bin/env bash
# Stage 1: LibriSpeech (FLAC + per-chapter *.trans.txt) -> data/<subset>, data/train_960, data/dev
# Options: --nj N; anything after the options is passed on (key=value corpus options).
set -euo pipefail
nj=4
. ./path.sh
. ./db.sh
. utils/parse_options.sh
if [ -z "${LIBRISPEECH}" ]; then
  echo "local/data.sh: set LIBRISPEECH in db.sh (see README.md for the layout)" >&2
  exit 1
fi
python -m espnet_codec_lm.bin.prepare_data --corpus librispeech --src "${LIBRISPEECH}" \
  --out data --nj "${nj}" --config conf/prepare.yaml "$@"
