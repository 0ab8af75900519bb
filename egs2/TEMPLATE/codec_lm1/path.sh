#!/usr/bin/env bash
# Environment of every recipe: the toolkit's Python and the repository on PYTHONPATH.
# Recipes symlink this file; its real location is egs2/TEMPLATE/codec_lm1, three levels below
# the repository root (wherever the recipe directory itself is).
MAIN_ROOT=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/../../.." && pwd)
export MAIN_ROOT
if [ -x "${MAIN_ROOT}/tools/venv/bin/python" ]; then
  export PATH="${MAIN_ROOT}/tools/venv/bin:${PATH}"
fi
export PYTHONPATH="${MAIN_ROOT}${PYTHONPATH:+:${PYTHONPATH}}"
export PYTHONIOENCODING=UTF-8
# Kaldi files are sorted in byte order
export LC_COLLATE=C
# one math thread per process unless the user says otherwise: steps run nj processes in parallel
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
