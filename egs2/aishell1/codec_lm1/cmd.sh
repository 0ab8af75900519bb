#!/usr/bin/env bash
# How codec_lm.sh runs each step.
#
#   cmd_backend=local  (default) on this machine; output to the terminal and the step's log.
#   cmd_backend=slurm  as a Slurm job through srun (the script waits for it). Put the site's
#                      options in SLURM_RUN_OPTS, e.g.
#                        SLURM_RUN_OPTS="--partition=gpu --time=2-00:00:00 --cpus-per-task=16"
#                      GPU steps add --gres gpu:<ngpu> themselves.
# Either can be chosen per run: cmd_backend=slurm ./run.sh ...
cmd_backend=${cmd_backend:-local}

case "${cmd_backend}" in
  local) run_cmd=utils/run_local.sh ;;
  slurm)
    run_cmd=utils/run_slurm.sh
    export SLURM_RUN_OPTS=${SLURM_RUN_OPTS:-"--time=2-00:00:00 --cpus-per-task=8"}
    ;;
  *)
    echo "cmd.sh: unknown cmd_backend '${cmd_backend}' (local or slurm)" >&2
    exit 1
    ;;
esac
export run_cmd
