#!/usr/bin/env bash
# Stage 1 of the CPT recipe: prepare each corpus of the paper's mix that db.sh names
# (data/<corpus>/<set>; an unset one is left out), then join them (conf/cpt_mix.yaml):
# data/train and data/dev, ids prefixed by corpus, punctuation and translation hooks applied.
# Options: --nj N; key=value overrides of conf/cpt_mix.yaml after them.
set -euo pipefail
nj=4
. ./path.sh
. ./db.sh
. utils/parse_options.sh

prep() { # prep CORPUS ROOT SUBSET...: one corpus into data/CORPUS (conf/prepare_CORPUS.yaml if any)
  local corpus=$1 root=$2
  shift 2
  if [ -z "${root}" ]; then
    echo "local/data.sh: ${corpus}: no path in db.sh; left out of the mix"
    return 0
  fi
  local args=(--corpus "${corpus}" --src "${root}" --out "data/${corpus}" --nj "${nj}")
  [ -f "conf/prepare_${corpus}.yaml" ] && args+=(--config "conf/prepare_${corpus}.yaml")
  python -m espnet_codec_lm.bin.prepare_data "${args[@]}" --subsets "$@"
}

prep librispeech "${LIBRISPEECH}" train-clean-100 train-clean-360 train-other-500 dev-clean
prep aishell1 "${AISHELL1}" train dev
prep aishell2 "${AISHELL2}" train dev
prep aishell3 "${AISHELL3}" train
prep wenetspeech "${WENETSPEECH}" train
prep gigaspeech "${GIGASPEECH}" train dev
prep mls "${MLS_ENGLISH}" train
prep tedlium3 "${TEDLIUM3}" train
prep commonvoice "${COMMONVOICE}" train_en train_zh dev_en dev_zh

python -m espnet_codec_lm.bin.prepare_data --corpus cpt_mix --src data --out data \
  --config conf/cpt_mix.yaml "$@"
