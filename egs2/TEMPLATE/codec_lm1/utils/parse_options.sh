#!/usr/bin/env bash
# Parse "--name value" / "--name=value" command-line options into shell variables.
#
# Source it after defining every option's default:  . utils/parse_options.sh
# Only variables that already exist can be set (a typo is an error, not a new variable); dashes
# in names become underscores (--stop-stage = --stop_stage); a variable whose default is true or
# false only accepts true or false. "--config FILE" sources FILE (name=value lines) first.
# "--help" prints $help_message. Parsing stops at the first argument that is not an option;
# the rest stay in "$@".

while [ $# -gt 0 ]; do
  case "$1" in
    --help | -h)
      printf '%s\n' "${help_message:-no help available}"
      exit 0
      ;;
    --*=*)
      _po_name=${1%%=*}
      _po_value=${1#*=}
      shift
      ;;
    --*)
      if [ $# -lt 2 ]; then
        echo "$0: option $1 needs a value" >&2
        exit 1
      fi
      _po_name=$1
      _po_value=$2
      shift 2
      ;;
    *) break ;;
  esac
  _po_name=${_po_name#--}
  _po_name=${_po_name//-/_}
  if [ "${_po_name}" = config ]; then
    if [ ! -f "${_po_value}" ]; then
      echo "$0: --config ${_po_value}: file not found" >&2
      exit 1
    fi
    # shellcheck disable=SC1090
    . "${_po_value}"
    continue
  fi
  if [[ ! ${_po_name} =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || ! declare -p "${_po_name}" > /dev/null 2>&1; then
    echo "$0: unknown option --${_po_name} (see $0 --help)" >&2
    exit 1
  fi
  _po_old=${!_po_name}
  if [[ ${_po_old} == true || ${_po_old} == false ]] && [[ ${_po_value} != true && ${_po_value} != false ]]; then
    echo "$0: --${_po_name} takes true or false, got '${_po_value}'" >&2
    exit 1
  fi
  printf -v "${_po_name}" '%s' "${_po_value}"
done
unset _po_name _po_value _po_old
true
