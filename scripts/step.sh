#!/usr/bin/env bash
# One line per step: `step.sh LABEL CMD...` runs CMD with its output in .local/steps.log and
# prints "LABEL ... ok (Ns)"; on failure it prints the step's output and exits with its status.
# V=1 runs CMD with its output on the terminal instead.
set -uo pipefail
label=$1
shift
if [[ "${V:-0}" == 1 ]]; then
  exec "$@"
fi
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# Not in .local/log: the services' logs there are JSON lines, this is the tools' plain output.
local_dir="${SWITCHBOARD_LOCAL_DIR:-$root/.local}"
mkdir -p "$local_dir"
out="$(mktemp)"
trap 'rm -f "$out"' EXIT
begin=$SECONDS
printf '%-40s' "$label ..."
"$@" >"$out" 2>&1
rc=$?
{ printf '== %s: %s (exit %s)\n' "$(date -u +%FT%TZ)" "$label" "$rc"; cat "$out"; } >>"$local_dir/steps.log"
if ((rc == 0)); then
  printf 'ok (%ss)\n' "$((SECONDS - begin))"
else
  printf 'FAILED (exit %s); its output:\n' "$rc"
  tail -n 60 "$out"
fi
exit "$rc"
