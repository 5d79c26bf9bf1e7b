#!/usr/bin/env bash
# Start/stop the Switchboard services natively (no docker), each in the background with a
# pid file and a log under .local/. Usage: services.sh start|stop|status|urls|targets
# (targets: the processes as a Prometheus file_sd JSON list, for scripts/infra/prometheus.sh), or
# services.sh run <name> <args...> to run `python -m switchboard.<module> <args>` in the
# foreground with that service's local environment (e.g. `run control bootstrap FILE`).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
local_dir="${SWITCHBOARD_LOCAL_DIR:-$root/.local}"
run="$local_dir/run"
logs="$local_dir/log"
py="$root/.venv/bin/python"
mkdir -p "$run" "$logs"

# Local defaults for `make up`: scripts/local/common.env for all, scripts/local/<name>.env for
# one service (sections such as TWILIO__ACCOUNTS differ per service); the environment wins.
# shellcheck source=scripts/local/common.env
set -a; source "$root/scripts/local/common.env"; set +a

# name | module and command | port (given under every port variable the services read)
# The control plane comes first: the others read their accounts and channels from what it
# publishes on control.config.
SERVICES=(
  "control|switchboard.control api|${SWITCHBOARD_CONTROL_PORT:-8007}"
  "provider-sim|switchboard.providersim serve|${SWITCHBOARD_SIM_PORT:-8010}"
  "ingress|switchboard.ingress serve|${SWITCHBOARD_INGRESS_PORT:-8000}"
  "history|switchboard.history worker|${SWITCHBOARD_HISTORY_PORT:-8001}"
  "history-api|switchboard.history api|${SWITCHBOARD_HISTORY_API_PORT:-8004}"
  "dialer|switchboard.dialer worker|${SWITCHBOARD_DIALER_PORT:-8005}"
  "dialer-api|switchboard.dialer api|${SWITCHBOARD_DIALER_API_PORT:-8002}"
  "ai|switchboard.ai worker|${SWITCHBOARD_AI_PORT:-8003}"
  "ai-api|switchboard.ai api|${SWITCHBOARD_AI_API_PORT:-8006}"
  # The internal voice API the ingress asks while a Vapi or ElevenLabs caller is on the line.
  "ai-voice|switchboard.ai voice|${SWITCHBOARD_AI_VOICE_PORT:-8008}"
  # Consumer lag of the groups above, read at the broker (Prometheus's lag alerts).
  "lag-exporter|switchboard.lagexporter serve|${SWITCHBOARD_LAG_EXPORTER_PORT:-$((${SWITCHBOARD_INGRESS_PORT:-8000} + 11))}"
)

alive() { [[ -f "$run/$1.pid" ]] && kill -0 "$(cat "$run/$1.pid")" 2>/dev/null; }

# Services waited for until /ready (not only /health): the voice API answers for a business
# only once it has read who owns each channel from control.config.
READY_PROBED=" ai-voice "

wait_health() {
  local name=$1 port=$2 deadline=$((SECONDS + 120)) probe=health
  [[ "$READY_PROBED" == *" $name "* ]] && probe=ready
  # Python rather than curl: the interpreter is there on every machine this runs on.
  until "$py" -c "import sys, urllib.request as u; u.urlopen(sys.argv[1], timeout=2)" \
      "http://127.0.0.1:$port/$probe" >/dev/null 2>&1; do
    if ! alive "$name"; then
      echo "$name exited; last log lines:" >&2; tail -n 40 "$logs/$name.log" >&2; return 1
    fi
    if ((SECONDS > deadline)); then echo "$name: no /$probe after 120 s" >&2; return 1; fi
    sleep 0.5
  done
}

local_env() {
  if [[ -f "$root/scripts/local/$1.env" && -z "${SWITCHBOARD_NO_LOCAL_ENV:-}" ]]; then
    # shellcheck disable=SC1090
    set -a; source "$root/scripts/local/$1.env"; set +a
  fi
}

launch() {
  local name=$1 cmd=$2 port=$3
  (
    local_env "$name"
    export SWITCHBOARD_HTTP__PORT="$port" SWITCHBOARD_API__PORT="$port" \
      SWITCHBOARD_SIM__PORT="$port" SWITCHBOARD_HTTP__API_PORT="$port" \
      SWITCHBOARD_HTTP__WORKER_PORT="$port" SWITCHBOARD_HTTP__VOICE_PORT="$port"
    export SWITCHBOARD_HTTP__PUBLIC_BASE_URL="${SWITCHBOARD_HTTP__PUBLIC_BASE_URL:-http://127.0.0.1:$port}"
    # shellcheck disable=SC2086 # cmd is "module subcommand"
    nohup "$py" -m $cmd >>"$logs/$name.log" 2>&1 &
    echo $! >"$run/$name.pid"
  )
}

start() {
  local first=1
  for spec in "${SERVICES[@]}"; do
    IFS='|' read -r name cmd port <<<"$spec"
    if alive "$name"; then echo "$name: already running"; else launch "$name" "$cmd" "$port"; fi
    if ((first)); then
      # The control plane publishes its backlog first, so the others start from it.
      wait_health "$name" "$port"
      first=0
    fi
  done
  for spec in "${SERVICES[@]}"; do
    IFS='|' read -r name _ port <<<"$spec"
    wait_health "$name" "$port"
    echo "$name: up on :$port"
  done
}

run_one() {
  local name=${1:?usage: services.sh run <name> <args...>} module="" n cmd
  shift
  for spec in "${SERVICES[@]}"; do
    IFS='|' read -r n cmd _ <<<"$spec"
    if [[ "$n" == "$name" ]]; then module="${cmd%% *}"; fi
  done
  [[ -n "$module" ]] || { echo "unknown service: $name" >&2; return 2; }
  local_env "$name"
  exec "$py" -m "$module" "$@"
}

urls() {
  for spec in "${SERVICES[@]}"; do
    IFS='|' read -r name _ port <<<"$spec"
    printf '%-13s http://127.0.0.1:%s  (/health /ready /metrics; log %s)\n' \
      "$name" "$port" "$logs/$name.log"
  done
}

targets() {
  # service and process labels as compose's prometheus.yml gives them (history-api: history, api).
  local sep="" service process
  printf '['
  for spec in "${SERVICES[@]}"; do
    IFS='|' read -r name cmd port <<<"$spec"
    [[ "$name" == provider-sim ]] && continue  # a test double, not monitored
    service="${name%-api}"; service="${service%-voice}"
    process="${cmd##* }"
    [[ "$name" == *-api ]] && process=api
    printf '%s\n  {"targets": ["127.0.0.1:%s"], "labels": {"service": "%s", "process": "%s"}}' \
      "$sep" "$port" "$service" "$process"
    sep=","
  done
  printf '\n]\n'
}

stop() {
  # TERM to every service at once, then wait: each takes ~2 s to shut down gracefully.
  local names=() pids=()
  for spec in "${SERVICES[@]}"; do
    IFS='|' read -r name _ _ <<<"$spec"
    if alive "$name"; then
      names+=("$name"); pids+=("$(cat "$run/$name.pid")"); kill -TERM "${pids[-1]}" 2>/dev/null || true
    fi
    rm -f "$run/$name.pid"
  done
  for i in "${!pids[@]}"; do
    for _ in $(seq 60); do kill -0 "${pids[i]}" 2>/dev/null || break; sleep 0.25; done
    kill -0 "${pids[i]}" 2>/dev/null && kill -KILL "${pids[i]}"
    echo "${names[i]}: stopped"
  done
}

status() {
  local rc=0
  for spec in "${SERVICES[@]}"; do
    IFS='|' read -r name _ port <<<"$spec"
    if alive "$name"; then echo "$name: running (pid $(cat "$run/$name.pid"), port $port)"
    else echo "$name: stopped"; rc=1; fi
  done
  return $rc
}

case "${1:-}" in
  start) start ;; stop) stop ;; status) status ;; urls) urls ;; targets) targets ;;
  run) shift; run_one "$@" ;;
  *) echo "usage: $0 start|stop|status|urls|targets|run <name> <args...>" >&2; exit 2 ;;
esac
