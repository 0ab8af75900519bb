#!/usr/bin/env bash
# Stage 1: AISHELL-1 (wav/<split>/<spk>/*.wav + one transcript file) -> data/{train,dev,test}
# Options: --nj N; anything after the options is passed on (key=value corpus options).
set -euo pipefail
nj=4
. ./path.sh
. ./db.sh
. utils/parse_options.sh
if [ -z "${AISHELL1}" ]; then
  echo "local/data.sh: set AISHELL1 in db.sh (see README.md for the layout)" >&2
  exit 1
fi
python -m espnet_codec_lm.bin.prepare_data --corpus aishell1 --src "${AISHELL1}" \
  --out data --nj "${nj}" --config conf/prepare.yaml "$@"
