#!/bin/bash
# Drives mtvctl's bash completion the way bash does and checks its answers.

source /usr/share/bash-completion/bash_completion
source "$1"
PATH=$(dirname "$2"):$PATH
fail=0
check() {
  local want=$1; shift
  COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
  COMPREPLY=()
  _mtvctl
  local got="${COMPREPLY[*]}"
  if [[ " $got " != *" $want "* ]]; then
    echo "FAIL: [$*] -> '$got', expected it to offer '$want'"; fail=1
  else
    echo "ok: [$*] offers $want"
  fi
}
check create mtvctl ""
check provider mtvctl create ""
check storage mtvctl create mapping ""
check vsphere mtvctl create provider x --type ""
check --migration-type mtvctl create plan p --mig
check warm mtvctl create plan p -m ""
check yaml mtvctl get plans -o ""
check --password-file mtvctl create provider p --pass
check inventory mtvctl get ""
check datastores mtvctl get inventory ""
check planvms mtvctl get inventory vms p -o ""
check --query mtvctl get inventory vms p --qu
check start mtvctl ""
check plan mtvctl start ""
check cutover mtvctl ""
check plan mtvctl cutover ""
check migrations mtvctl get ""
check unset mtvctl settings ""
exit $fail
