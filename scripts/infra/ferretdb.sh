#!/usr/bin/env bash
# FerretDB v1 (MongoDB wire protocol) on the SQLite backend, built from scripts/infra/ferretdb/.
# Usage: ferretdb.sh {install|start|stop|status}
set -euo pipefail

# shellcheck source=scripts/infra/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
COMPONENT=ferretdb

SRC="$INFRA_DIR/ferretdb"
BIN="$BIN_DIR/ferretdb"
FDB_DIR="$LOCAL_DIR/ferretdb"
DATA="$FDB_DIR/data"
PIDFILE="$FDB_DIR/ferretdb.pid"
LOGFILE="$FDB_DIR/ferretdb.log"
PID_PATTERN="$BIN"
READY_TIMEOUT="${SWITCHBOARD_FERRETDB_READY_TIMEOUT:-60}"

find_go() {
  if command -v go >/dev/null; then
    command -v go
  elif [[ -x /usr/local/go/bin/go ]]; then
    echo /usr/local/go/bin/go
  else
    die "go not found (Go 1.24+ is needed to build FerretDB once)"
  fi
}

needs_build() {
  [[ -x "$BIN" ]] || return 0
  local f
  for f in "$SRC/main.go" "$SRC/go.mod" "$SRC/go.sum"; do
    [[ "$f" -nt "$BIN" ]] && return 0
  done
  return 1
}

do_install() {
  command -v python3 >/dev/null || apt_install python3
  ensure_local_dir
  mkdir -p "$DATA"
  needs_build || return 0
  local go
  go="$(find_go)"
  log "building $BIN (first build downloads modules and takes a minute or two)"
  (cd "$SRC" && GOFLAGS="-mod=mod -buildvcs=false" "$go" build -o "$BIN.tmp" .)
  mv -f "$BIN.tmp" "$BIN"
}

is_ready() {
  python3 "$INFRA_DIR/mongo_ready.py" 127.0.0.1 "$SWITCHBOARD_FERRETDB_PORT" 5
}

do_start() {
  do_install
  if pid_alive "$PIDFILE" "$PID_PATTERN"; then
    log "already running (pid $(read_pid "$PIDFILE")); waiting until ready"
    await_ready "$PIDFILE" "$PID_PATTERN" "$READY_TIMEOUT" "$LOGFILE" is_ready
    return
  fi
  require_free_port "$SWITCHBOARD_FERRETDB_PORT" SWITCHBOARD_FERRETDB_PORT
  log "starting on 127.0.0.1:$SWITCHBOARD_FERRETDB_PORT (sqlite in $DATA)"
  start_background "$PIDFILE" "$LOGFILE" "$BIN" \
    --listen-addr "127.0.0.1:$SWITCHBOARD_FERRETDB_PORT" \
    --handler sqlite --sqlite-url "file:$DATA/" \
    --log-level "${SWITCHBOARD_FERRETDB_LOG_LEVEL:-warn}"
  await_ready "$PIDFILE" "$PID_PATTERN" "$READY_TIMEOUT" "$LOGFILE" is_ready
}

do_stop() {
  stop_pid "$PIDFILE" "$PID_PATTERN" 30
}

do_status() {
  report_status ferretdb "$PIDFILE" "$PID_PATTERN" "127.0.0.1:$SWITCHBOARD_FERRETDB_PORT" is_ready
}

run_verb "ferretdb.sh" "${1:-}"
