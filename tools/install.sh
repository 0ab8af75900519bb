#!/usr/bin/env bash
# Install everything espnet_codec_lm needs into tools/venv (with the [demo] extra), plus the Debian
# packages the recipes and tests call (espeak-ng, sox, shellcheck; chromium and chromium-driver
# for the web demo's browser test). Idempotent: a stamp file records the hash of the inputs, so a
# second run with nothing changed exits in about a second.
#
#   tools/install.sh                 # CPU machine: torch 2.13.0 CPU wheel
#   TORCH_SPEC=none tools/install.sh # GPU machine: keep the torch already in the venv / python
#   PYTHON=python3.11 tools/install.sh
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "${here}")
venv=${VENV:-${here}/venv}
python=${PYTHON:-python3}
torch_spec=${TORCH_SPEC:-torch==2.13.0}
espnet_spec=${ESPNET_SPEC:-espnet==202511}
stamp=${venv}/.install-stamp

log() { echo "[install $(date +%H:%M:%S)] $*"; }

# --- Debian packages -------------------------------------------------------------------------
need_apt=()
command -v espeak-ng >/dev/null 2>&1 || need_apt+=(espeak-ng)
command -v sox >/dev/null 2>&1 || need_apt+=(sox)
command -v shellcheck >/dev/null 2>&1 || need_apt+=(shellcheck)
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need_apt+=(chromium-driver)
if [ ${#need_apt[@]} -gt 0 ]; then
    sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    if command -v apt-get >/dev/null 2>&1; then
        log "apt-get install ${need_apt[*]}"
        ${sudo} apt-get update -qq
        DEBIAN_FRONTEND=noninteractive ${sudo} apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
    else
        log "WARNING: please install ${need_apt[*]} with your system's package manager"
    fi
fi

# --- Python venv -----------------------------------------------------------------------------
inputs_hash=$( (echo "${torch_spec} ${espnet_spec}"; cat "${here}"/requirements{,-dev,-demo}.txt "${root}/setup.py") | sha1sum | cut -d' ' -f1)
if [ -f "${stamp}" ] && [ "$(cat "${stamp}")" = "${inputs_hash}" ] && [ -x "${venv}/bin/python" ]; then
    log "tools/venv is up to date (delete ${stamp} to force a reinstall)"
    exit 0
fi

if [ ! -x "${venv}/bin/python" ]; then
    log "creating ${venv} with $(${python} --version)"
    ${python} -m venv "${venv}"
fi
pip=("${venv}/bin/python" -m pip --disable-pip-version-check -q)
# Some machines list extra local indexes that do not exist; pip warns once per package about them.
quiet_pip() { "${pip[@]}" "$@" 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2); }
quiet_pip install -U "pip>=24" wheel

constraints=${venv}/constraints.txt
if [ "${torch_spec}" = "none" ]; then
    "${venv}/bin/python" -c "import torch" 2>/dev/null || {
        echo "TORCH_SPEC=none but torch is not importable in ${venv}; install your torch there first" >&2
        exit 1
    }
else
    log "installing ${torch_spec}"
    read -ra torch_args <<<"${torch_spec}" # may carry e.g. --index-url for a CUDA build
    quiet_pip install "${torch_args[@]}"
fi
# Pin whatever torch is now installed, so no later requirement can replace it with a CUDA build.
torch_version=$("${venv}/bin/python" -c "import torch; print(torch.__version__.split('+')[0])")
echo "torch==${torch_version}" >"${constraints}"
log "torch ${torch_version} pinned"

log "installing requirements (this is the slow part on a fresh machine)"
quiet_pip install -c "${constraints}" -r "${here}/requirements.txt" -r "${here}/requirements-dev.txt" \
    -r "${here}/requirements-demo.txt"
# espnet pins setuptools<74 while torch>=2.12 needs setuptools>=77: take espnet without its
# dependency list; requirements.txt names the ones our code path imports.
log "installing ${espnet_spec} (--no-deps)"
quiet_pip install --no-deps "${espnet_spec}"
# setuptools prints a long banner about editable installs on stderr: keep it out of the way
# unless the install fails.
if ! quiet_pip install --no-deps --no-build-isolation -e "${root}" 2>"${venv}/editable.log"; then
    cat "${venv}/editable.log" >&2
    exit 1
fi

echo "${inputs_hash}" >"${stamp}"
log "done: $(du -sh "${venv}" | cut -f1) in ${venv}"
