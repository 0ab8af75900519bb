#!/usr/bin/env bash
# Run one step on this machine: utils/run_local.sh --log FILE [--gpu N] -- command args...
# The output goes to the terminal and to FILE; the exit status is the command's.
set -u -o pipefail
logfile=/dev/null
while [ $# -gt 0 ]; do
  case "$1" in
    --log) logfile=$2; shift 2 ;;
    --gpu) shift 2 ;;  # the local machine's GPUs are used as the command decides
    --) shift; break ;;
    *) break ;;
  esac
done
mkdir -p "$(dirname "${logfile}")"
{
  echo "# $(printf '%q ' "$@")"
  echo "# started $(date '+%Y-%m-%dT%H:%M:%S') on $(hostname)"
} > "${logfile}"
"$@" 2>&1 | tee -a "${logfile}"
status=${PIPESTATUS[0]}
echo "# ended $(date '+%Y-%m-%dT%H:%M:%S') with status ${status}" >> "${logfile}"
exit "${status}"
