#!/usr/bin/env bash
# Local Kafka, PostgreSQL, Redis and FerretDB without Docker; Prometheus and Alertmanager on request.
# Usage: infra.sh {install|start|stop|status} [kafka|postgres|redis|ferretdb|alertmanager|prometheus ...]
#   without names: the four servers (stop: also the monitoring, if it runs).
#   start   installs what is missing, then starts; a component already running and ready is left
#           alone; one that does not become ready is stopped and tried once more.
#   stop    stops only what these scripts started (their pid files), in reverse order.
#   status  one line per component; exit code 0 only if all are running and ready.
# SWITCHBOARD_KAFKA_BROKERS=3 makes `kafka` a three-broker cluster (kafka.sh has per-node verbs).
set -euo pipefail

# shellcheck source=scripts/infra/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ALL=(postgres redis ferretdb kafka)
# Started only when named (`make up MONITORING=1`); stopped with the rest.
MONITORING=(alertmanager prometheus)
usage="usage: infra.sh {install|start|stop|status} [${ALL[*]} ${MONITORING[*]}]"

verb="${1:-}"
shift || true
case "$verb" in
  install | start | stop | status) ;;
  *)
    echo "$usage" >&2
    exit 2
    ;;
esac

components=("$@")
if ((${#components[@]} == 0)); then
  components=("${ALL[@]}")
  [[ "$verb" == stop ]] && components+=("${MONITORING[@]}")
fi
for c in "${components[@]}"; do
  [[ " ${ALL[*]} ${MONITORING[*]} " == *" $c "* ]] || {
    echo "unknown component: $c" >&2
    echo "$usage" >&2
    exit 2
  }
done

run() {
  bash "$INFRA_DIR/$1.sh" "$2"
}

start_with_retry() {
  local c="$1"
  run "$c" start && return 0
  COMPONENT="$c" log "did not start: stopping it and trying once more"
  run "$c" stop || true
  run "$c" start
}

failed=()
case "$verb" in
  install)
    for c in "${components[@]}"; do run "$c" install || failed+=("$c"); done
    ;;
  start)
    begin=$SECONDS
    for c in "${components[@]}"; do start_with_retry "$c" || failed+=("$c"); done
    log "start finished in $((SECONDS - begin))s"
    ;;
  stop)
    for ((i = ${#components[@]} - 1; i >= 0; i--)); do
      run "${components[i]}" stop || failed+=("${components[i]}")
    done
    ;;
  status)
    for c in "${components[@]}"; do run "$c" status || failed+=("$c"); done
    exit $((${#failed[@]} > 0))
    ;;
esac

if ((${#failed[@]})); then
  log "$verb failed for: ${failed[*]}"
  exit 1
fi
