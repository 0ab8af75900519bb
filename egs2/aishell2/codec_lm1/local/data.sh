#!/usr/bin/env bash
# Stage 1: AISHELL-2 iOS/data + AISHELL-DEV-TEST-SET iOS/{dev,test} -> data/{train,dev,test}
# Options: --nj N; anything after the options is passed on (key=value corpus options).
set -euo pipefail
nj=4
. ./path.sh
. ./db.sh
. utils/parse_options.sh
if [ -z "${AISHELL2}" ]; then
  echo "local/data.sh: set AISHELL2 in db.sh (see README.md for the layout)" >&2
  exit 1
fi
python -m espnet_codec_lm.bin.prepare_data --corpus aishell2 --src "${AISHELL2}" \
  --out data --nj "${nj}" --config conf/prepare.yaml "$@"
