#!/usr/bin/env bash
# Stage 1: CoVoST 2 TSVs + Common Voice 4 clips -> data/{train,dev,test}_{en_zh,zh_en}, data/{train,dev}
# Options: --nj N; anything after the options is passed on (key=value corpus options).
set -euo pipefail
nj=4
. ./path.sh
. ./db.sh
. utils/parse_options.sh
if [ -z "${COVOST2}" ]; then
  echo "local/data.sh: set COVOST2 in db.sh (see README.md for the layout)" >&2
  exit 1
fi
python -m espnet_codec_lm.bin.prepare_data --corpus covost2 --src "${COVOST2}" \
  --out data --nj "${nj}" --config conf/prepare.yaml "$@"
