# shellcheck shell=bash
# Shared helpers for scripts/infra/*.sh. Source it; do not run it.
#
# Everything the scripts write (downloads, data, logs, pid files) lives under
# $SWITCHBOARD_LOCAL_DIR (default <repo>/.local, git-ignored).

INFRA_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$INFRA_DIR/../.." && pwd)"

: "${SWITCHBOARD_LOCAL_DIR:=$REPO_ROOT/.local}"
case "$SWITCHBOARD_LOCAL_DIR" in
  /*) ;;
  *) SWITCHBOARD_LOCAL_DIR="$PWD/$SWITCHBOARD_LOCAL_DIR" ;;
esac
: "${SWITCHBOARD_KAFKA_PORT:=19092}"
: "${SWITCHBOARD_KAFKA_CONTROLLER_PORT:=19093}"
: "${SWITCHBOARD_PG_PORT:=15432}"
: "${SWITCHBOARD_REDIS_PORT:=16379}"
: "${SWITCHBOARD_FERRETDB_PORT:=27018}"
# Monitoring sits just below Kafka's ports (19090, 19091 by default), so a checkout that moves its
# Kafka port moves these too and two checkouts never share a Prometheus.
: "${SWITCHBOARD_PROMETHEUS_PORT:=$((SWITCHBOARD_KAFKA_PORT - 2))}"
: "${SWITCHBOARD_ALERTMANAGER_PORT:=$((SWITCHBOARD_KAFKA_PORT - 1))}"
export SWITCHBOARD_LOCAL_DIR SWITCHBOARD_KAFKA_PORT SWITCHBOARD_KAFKA_CONTROLLER_PORT \
  SWITCHBOARD_PG_PORT SWITCHBOARD_REDIS_PORT SWITCHBOARD_FERRETDB_PORT \
  SWITCHBOARD_PROMETHEUS_PORT SWITCHBOARD_ALERTMANAGER_PORT

LOCAL_DIR="$SWITCHBOARD_LOCAL_DIR"
BIN_DIR="$LOCAL_DIR/bin"

log() {
  printf '%s [%s] %s\n' "$(date +%H:%M:%S)" "${COMPONENT:-infra}" "$*" >&2
}

die() {
  log "ERROR: $*"
  exit 1
}

ensure_local_dir() {
  mkdir -p "$LOCAL_DIR" "$BIN_DIR"
  # Other users (postgres) may need to traverse it; a restrictive umask would block them.
  chmod o+x "$LOCAL_DIR"
}

# wait_until TIMEOUT_S WHAT CMD... : run CMD every second until it succeeds or TIMEOUT_S passes.
wait_until() {
  local timeout="$1" what="$2"
  shift 2
  local deadline=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then
      log "$what: not ready after ${timeout}s"
      return 1
    fi
    sleep 1
  done
}

# read_pid PIDFILE : print the pid stored in PIDFILE (first line), or nothing.
read_pid() {
  [[ -s "$1" ]] || return 0
  local pid
  pid="$(head -n1 "$1" | tr -dc '0-9')"
  printf '%s' "$pid"
}

# proc_running PID : PID exists and is not a zombie (an exited daemon whose parent has not reaped
# it yet still answers kill -0).
proc_running() {
  kill -0 "$1" 2>/dev/null || return 1
  local stat
  stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
  stat="${stat##*) }"
  [[ "${stat:0:1}" != Z ]]
}

# pid_alive PIDFILE PATTERN : the pid in PIDFILE runs and its command line contains PATTERN
# (guards against a recycled pid belonging to something else).
pid_alive() {
  local pid
  pid="$(read_pid "$1")"
  if [[ -z "$pid" ]] || ! proc_running "$pid"; then
    return 1
  fi
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$2"
}

# stop_pid PIDFILE PATTERN [TIMEOUT_S] : SIGTERM, wait, then SIGKILL; removes PIDFILE.
stop_pid() {
  local pidfile="$1" pattern="$2" timeout="${3:-30}" pid
  if ! pid_alive "$pidfile" "$pattern"; then
    rm -f "$pidfile"
    return 0
  fi
  pid="$(read_pid "$pidfile")"
  log "stopping pid $pid"
  kill -TERM "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + timeout))
  while proc_running "$pid"; do
    if ((SECONDS >= deadline)); then
      log "pid $pid still alive after ${timeout}s: SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      sleep 1
      break
    fi
    sleep 0.2
  done
  rm -f "$pidfile"
}

# port_holder PORT : "pid N (command line)" of whatever listens on TCP PORT, or nothing.
port_holder() {
  local line pid
  line="$(ss -ltnpH "sport = :$1" 2>/dev/null | head -n1)" || true
  [[ -n "$line" ]] || return 0
  pid="$(grep -o 'pid=[0-9]*' <<<"$line" | head -n1 | cut -d= -f2)"
  if [[ -n "$pid" && -r "/proc/$pid/cmdline" ]]; then
    printf 'pid %s (%s)' "$pid" "$(tr '\0' ' ' <"/proc/$pid/cmdline" | cut -c1-160 | sed 's/ *$//')"
  else
    printf 'a process this user cannot see'
  fi
}

# require_free_port PORT VARIABLE : fail, naming the holder, when PORT is already listened on.
# Called just before a server of ours starts (our own is not running then): without it a
# foreign server on the port (another checkout's, say) would pass our readiness probe as ours.
require_free_port() {
  local holder
  holder="$(port_holder "$1")"
  [[ -z "$holder" ]] && return 0
  die "port $1 is taken by $holder, not by this checkout's server (its data: $LOCAL_DIR). Stop that process, or give this checkout other ports: $2=<free port>"
}

# start_background PIDFILE LOGFILE CMD... : run CMD detached (own session, no stdin), appending
# stdout and stderr to LOGFILE; the pid written to PIDFILE is CMD's own (bash execs it).
start_background() {
  local pidfile="$1" logfile="$2"
  shift 2
  mkdir -p "$(dirname "$pidfile")" "$(dirname "$logfile")"
  rm -f "$pidfile"
  # shellcheck disable=SC2016  # $$ and $0 are expanded by the inner bash, on purpose
  setsid nohup bash -c 'echo "$$" >"$0"; exec "$@"' "$pidfile" "$@" >>"$logfile" 2>&1 </dev/null &
  local tries=50
  until [[ -s "$pidfile" ]]; do
    ((--tries > 0)) || die "no pid file after starting: $*"
    sleep 0.1
  done
}

# await_ready PIDFILE PATTERN TIMEOUT_S LOGFILE CMD... : poll CMD every second until it succeeds;
# give up early if the process dies. On failure prints the log's tail and returns 1.
await_ready() {
  local pidfile="$1" pattern="$2" timeout="$3" logfile="$4"
  shift 4
  local deadline=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    if ! pid_alive "$pidfile" "$pattern"; then
      show_log "$logfile"
      log "process exited during start-up"
      return 1
    fi
    if ((SECONDS >= deadline)); then
      show_log "$logfile"
      log "not ready after ${timeout}s"
      return 1
    fi
    sleep 1
  done
  log "ready (pid $(read_pid "$pidfile"))"
}

# report_status NAME PIDFILE PATTERN ADDRESS CMD... : print running/stopped; exit code 0 = running+ready.
report_status() {
  local name="$1" pidfile="$2" pattern="$3" address="$4"
  shift 4
  if ! pid_alive "$pidfile" "$pattern"; then
    echo "$name: stopped"
    return 1
  fi
  if "$@" >/dev/null 2>&1; then
    echo "$name: running (pid $(read_pid "$pidfile"), $address)"
    return 0
  fi
  echo "$name: not ready (pid $(read_pid "$pidfile"), $address)"
  return 1
}

# show_log LOGFILE [LINES] : print the last lines of a log to stderr.
show_log() {
  local file="$1" lines="${2:-40}"
  if [[ -f "$file" ]]; then
    log "last $lines lines of $file:"
    tail -n "$lines" "$file" >&2
  else
    log "no log at $file"
  fi
}

# http_ok URL : the URL answers 2xx (python3 rather than curl: it is on every machine this runs on).
http_ok() {
  python3 -c 'import sys, urllib.request as u; u.urlopen(sys.argv[1], timeout=2)' "$1" 2>/dev/null
}

APT_UPDATED=""
# apt_install PKG... : apt-get update (once per run) and install the packages.
apt_install() {
  command -v apt-get >/dev/null || die "apt-get not found: install $* by hand"
  [[ "$(id -u)" == 0 ]] || die "must be root to apt-get install $*"
  if [[ -z "$APT_UPDATED" ]]; then
    log "apt-get update"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
    APT_UPDATED=1
  fi
  log "apt-get install $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >&2
}

# run_verb USAGE VERB : dispatch VERB to the calling script's do_<verb> function.
run_verb() {
  local usage="$1" verb="${2:-}"
  case "$verb" in
    install | start | stop | status) "do_$verb" ;;
    *)
      echo "usage: $usage {install|start|stop|status}" >&2
      exit 2
      ;;
  esac
}
