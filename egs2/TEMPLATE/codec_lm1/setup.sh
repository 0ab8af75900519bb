#!/usr/bin/env bash
# Create a new recipe directory that uses this template:
#   egs2/TEMPLATE/codec_lm1/setup.sh egs2/<corpus>/codec_lm1
# Symlinks the shared parts (codec_lm.sh, path.sh, utils/, conf/codec conf/lm conf/decode), copies
# the parts a recipe edits (cmd.sh, db.sh), and writes a run.sh and local/data.sh to fill in when
# they do not exist yet. Running it again on an existing recipe repairs missing links only.
set -euo pipefail
if [ $# -ne 1 ] || [[ $1 == -* ]]; then
  echo "Usage: $0 <new recipe dir>   e.g. $0 egs2/my_corpus/codec_lm1" >&2
  exit 1
fi
template=$(cd "$(dirname "$(readlink -f "$0")")" && pwd)
dir=$1
mkdir -p "${dir}/conf" "${dir}/local"
dir=$(cd "${dir}" && pwd)
[ "${dir}" = "${template}" ] && { echo "$0: that is the template itself" >&2; exit 1; }

link() { # link SRC DST: a relative symlink DST -> SRC, unless DST exists
  [ -e "$2" ] || [ -L "$2" ] || ln -s "$(realpath -m --relative-to="$(dirname "$2")" "$1")" "$2"
}
for f in codec_lm.sh path.sh utils; do
  link "${template}/${f}" "${dir}/${f}"
done
# the shared configs (codec, LM training, decoding) are the template's; a recipe adds its own
# files beside them (prepare.yaml, filter.yaml, score.yaml...)
for d in codec lm decode; do
  link "${template}/conf/${d}" "${dir}/conf/${d}"
done
for f in cmd.sh db.sh; do
  [ -e "${dir}/${f}" ] || cp "${template}/${f}" "${dir}/${f}"
done

if [ ! -e "${dir}/run.sh" ]; then
  cat > "${dir}/run.sh" << 'RUN'
#!/usr/bin/env bash
# Recipe settings; every option of codec_lm.sh can also be given on the command line.
set -euo pipefail

./codec_lm.sh \
  --train_set train --valid_set dev --test_sets "test" \
  --tasks "asr" \
  "$@"
RUN
  chmod +x "${dir}/run.sh"
fi
if [ ! -e "${dir}/local/data.sh" ]; then
  cat > "${dir}/local/data.sh" << 'DATA'
#!/usr/bin/env bash
# Stage 1: write Kaldi data dirs under data/ (see doc/adding_a_corpus.md).
set -euo pipefail
. ./path.sh
. ./db.sh
echo "local/data.sh: write the data preparation of this corpus" >&2
exit 1
DATA
  chmod +x "${dir}/local/data.sh"
fi
echo "$0: recipe directory ready: ${dir}"
