#!/usr/bin/env bash
# Run one step as a Slurm job and wait for it:
#   utils/run_slurm.sh --log FILE [--gpu N] -- command args...
# Site settings come from $SLURM_RUN_OPTS (cmd.sh sets it: partition, time limit, account...).
# The command runs in the current directory with the current environment (srun's default).
set -u -o pipefail
logfile=/dev/null
gpu=0
while [ $# -gt 0 ]; do
  case "$1" in
    --log) logfile=$2; shift 2 ;;
    --gpu) gpu=$2; shift 2 ;;
    --) shift; break ;;
    *) break ;;
  esac
done
mkdir -p "$(dirname "${logfile}")"
gres=()
if [ "${gpu}" -gt 0 ]; then
  gres=(--gres "gpu:${gpu}")
fi
# shellcheck disable=SC2086
srun ${SLURM_RUN_OPTS:-} "${gres[@]}" --job-name "codec_lm" --output "${logfile}" "$@"
