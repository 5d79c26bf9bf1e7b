#!/usr/bin/env bash
# A Redis instance of our own (Debian's redis-server binary), in memory only.
# Usage: redis.sh {install|start|stop|status}
set -euo pipefail

# shellcheck source=scripts/infra/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
COMPONENT=redis

REDIS_DIR="$LOCAL_DIR/redis"
PIDFILE="$REDIS_DIR/redis.pid"
LOGFILE="$REDIS_DIR/redis.log"
PID_PATTERN="redis-server"
READY_TIMEOUT="${SWITCHBOARD_REDIS_READY_TIMEOUT:-30}"

do_install() {
  if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
    apt_install redis-server
  fi
  ensure_local_dir
  mkdir -p "$REDIS_DIR/data"
}

is_ready() {
  [[ "$(redis-cli -h 127.0.0.1 -p "$SWITCHBOARD_REDIS_PORT" ping 2>/dev/null)" == PONG ]]
}

do_start() {
  do_install
  if pid_alive "$PIDFILE" "$PID_PATTERN"; then
    log "already running (pid $(read_pid "$PIDFILE")); waiting until ready"
    await_ready "$PIDFILE" "$PID_PATTERN" "$READY_TIMEOUT" "$LOGFILE" is_ready
    return
  fi
  rm -f "$PIDFILE"
  require_free_port "$SWITCHBOARD_REDIS_PORT" SWITCHBOARD_REDIS_PORT
  log "starting on 127.0.0.1:$SWITCHBOARD_REDIS_PORT"
  if ! redis-server --bind 127.0.0.1 --port "$SWITCHBOARD_REDIS_PORT" --save '' --appendonly no \
    --daemonize yes --pidfile "$PIDFILE" --dir "$REDIS_DIR/data" --logfile "$LOGFILE"; then
    show_log "$LOGFILE"
    die "redis-server failed to start"
  fi
  # --daemonize returns before the pid file is written.
  wait_until 10 "redis pid file" test -s "$PIDFILE" || true
  await_ready "$PIDFILE" "$PID_PATTERN" "$READY_TIMEOUT" "$LOGFILE" is_ready
}

do_stop() {
  stop_pid "$PIDFILE" "$PID_PATTERN" 30
}

do_status() {
  report_status redis "$PIDFILE" "$PID_PATTERN" "127.0.0.1:$SWITCHBOARD_REDIS_PORT" is_ready
}

run_verb "redis.sh" "${1:-}"
