#!/usr/bin/env bash
# `make up`'s control-plane step: apply a bootstrap file to the control plane (default
# scripts/local/bootstrap.yaml; `make up BOOTSTRAP=<file>` or SWITCHBOARD_BOOTSTRAP=<file> for
# your own), and keep an operator key (tenants:admin) for this machine in
# .local/control/operator.key, made once (delete the file for a new one).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
file="${1:-$root/scripts/local/bootstrap.yaml}"
local_dir="${SWITCHBOARD_LOCAL_DIR:-$root/.local}"
[[ -f "$file" ]] || { echo "bootstrap file not found: $file" >&2; exit 2; }
"$root/scripts/services.sh" run control bootstrap "$file"
key="$local_dir/control/operator.key"
if [[ ! -s "$key" ]]; then
  mkdir -p "$(dirname "$key")"
  (
    umask 077
    "$root/scripts/services.sh" run control create-operator-key --name "local make up" >"$key.new"
  )
  mv "$key.new" "$key"
  echo "operator key written to $key"
fi
