#!/usr/bin/env bash
# Apache Kafka (KRaft, broker+controller in one JVM per node) from Maven Central jars: one node
# by default, or a cluster of SWITCHBOARD_KAFKA_BROKERS nodes on this host (3 for the fault tests).
# Usage: kafka.sh {install|start|stop|status|kill|pid|bootstrap} [NODE]
#   start/stop/status [NODE]  every node, or only node NODE (1..N); stop is SIGTERM (controlled
#                             shutdown), start of one node waits until it is back in the cluster
#   kill NODE                 SIGKILL, as a crash: no controlled shutdown, no flush
#   pid NODE                  print the node's pid (nothing when it is not running)
#   bootstrap                 print the client bootstrap list (127.0.0.1:port,...)
set -euo pipefail

# shellcheck source=scripts/infra/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
COMPONENT=kafka

BROKERS="${SWITCHBOARD_KAFKA_BROKERS:-1}"
[[ "$BROKERS" =~ ^[1-9]$ ]] || die "SWITCHBOARD_KAFKA_BROKERS must be 1..9, not '$BROKERS'"
# Jars are shared; data, config, log and pid live in the instance dir, so a test can run a
# broker or a cluster of its own (SWITCHBOARD_KAFKA_INSTANCE_DIR + other ports) and stop it at
# will. A single node and a cluster never share a data dir: a node formatted for a one-voter
# quorum cannot join a three-voter one.
LIBS="$LOCAL_DIR/kafka/libs"
SINGLE_DIR="$LOCAL_DIR/kafka"
CLUSTER_DIR="$LOCAL_DIR/kafka-cluster"
if ((BROKERS == 1)); then
  KAFKA_DIR="${SWITCHBOARD_KAFKA_INSTANCE_DIR:-$SINGLE_DIR}"
else
  KAFKA_DIR="${SWITCHBOARD_KAFKA_INSTANCE_DIR:-$CLUSTER_DIR}"
fi
POM="$INFRA_DIR/kafka/pom.xml"
CLUSTER_ID_FILE="$KAFKA_DIR/cluster-id"
READY_TIMEOUT="${SWITCHBOARD_KAFKA_READY_TIMEOUT:-90}"
# Kafka's own default (1 MiB + record batch overhead), written out so that the limit the
# services must stay under (SWITCHBOARD_KAFKA__MAX_RECORD_BYTES) is visible and the same everywhere.
MESSAGE_MAX_BYTES=1048588

# Replication follows the node count: one node cannot replicate; three (or more) give RF 3 and
# min ISR 2, which with acks=all survives the loss of one broker without losing an acked record.
if ((BROKERS >= 3)); then RF=3; else RF=$BROKERS; fi
if ((RF >= 2)); then MIN_ISR=2; else MIN_ISR=1; fi

for list in "${SWITCHBOARD_KAFKA_PORTS:-}" "${SWITCHBOARD_KAFKA_CONTROLLER_PORTS:-}"; do
  [[ -z "$list" || "$list" =~ ^[0-9]+(,[0-9]+){$((BROKERS - 1))}$ ]] ||
    die "port list '$list' must name $BROKERS ports (SWITCHBOARD_KAFKA_BROKERS)"
done

# port_of LIST_VAR DEFAULT_BASE NODE : node's port from a comma list, else base + 2*(node-1)
# (node 1 keeps the single-node ports, so 127.0.0.1:$SWITCHBOARD_KAFKA_PORT bootstraps both).
port_of() {
  local list="$1" base="$2" node="$3"
  if [[ -n "$list" ]]; then
    local ports
    IFS=, read -r -a ports <<<"$list"
    printf '%s' "${ports[node - 1]}"
  else
    printf '%s' $((base + 2 * (node - 1)))
  fi
}
broker_port() { port_of "${SWITCHBOARD_KAFKA_PORTS:-}" "$SWITCHBOARD_KAFKA_PORT" "$1"; }
controller_port() {
  port_of "${SWITCHBOARD_KAFKA_CONTROLLER_PORTS:-}" "$SWITCHBOARD_KAFKA_CONTROLLER_PORT" "$1"
}

# The single node keeps the layout it always had (files directly in the instance dir).
node_dir() { if ((BROKERS == 1)); then printf '%s' "$KAFKA_DIR"; else printf '%s' "$KAFKA_DIR/node-$1"; fi; }
pidfile() { printf '%s/kafka.pid' "$(node_dir "$1")"; }
logfile() { printf '%s/kafka.log' "$(node_dir "$1")"; }
props() { printf '%s/server.properties' "$(node_dir "$1")"; }
# The properties path tells the nodes (and other checkouts' brokers) apart in `ps`.
pattern() { printf 'kafka.Kafka %s' "$(props "$1")"; }

java_opts() {
  JAVA_OPTS=(
    -Xmx512m -Xms512m
    -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35
    -XX:+ExplicitGCInvokesConcurrent -XX:MaxInlineLevel=15
    -Djava.awt.headless=true
    "-Dlog4j2.configurationFile=file:$(node_dir "$1")/log4j2.properties"
  )
}

do_install() {
  command -v java >/dev/null || apt_install openjdk-17-jre-headless
  command -v mvn >/dev/null || apt_install maven
  command -v python3 >/dev/null || apt_install python3
  ensure_local_dir
  # The stamp holds the pom's checksum: a changed pom (new version) collects the jars again.
  local stamp="$LIBS/.collected" sum
  sum="$(sha256sum "$POM" | cut -d' ' -f1)"
  if [[ -f "$stamp" && "$(cat "$stamp")" == "$sum" ]]; then
    return 0
  fi
  log "collecting jars from Maven Central into $LIBS"
  rm -rf "$LIBS"
  mkdir -p "$SINGLE_DIR"
  if ! mvn -B -q -f "$POM" org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies \
    "-DoutputDirectory=$LIBS" -DincludeScope=runtime >"$SINGLE_DIR/mvn.log" 2>&1; then
    show_log "$SINGLE_DIR/mvn.log"
    die "could not collect the Kafka jars"
  fi
  echo "$sum" >"$stamp"
}

voters() {
  local node out=""
  for ((node = 1; node <= BROKERS; node++)); do
    out+="${out:+,}$node@127.0.0.1:$(controller_port "$node")"
  done
  printf '%s' "$out"
}

write_config() {
  local node="$1" dir port ctrl
  dir="$(node_dir "$node")"
  port="$(broker_port "$node")"
  ctrl="$(controller_port "$node")"
  cat >"$(props "$node")" <<EOF
# Generated by scripts/infra/kafka.sh on every start; edit the script, not this file.
process.roles=broker,controller
node.id=$node
controller.quorum.voters=$(voters)
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$ctrl
advertised.listeners=PLAINTEXT://127.0.0.1:$port
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$dir/data
num.partitions=3
default.replication.factor=$RF
min.insync.replicas=$MIN_ISR
auto.create.topics.enable=true
message.max.bytes=$MESSAGE_MAX_BYTES
offsets.topic.replication.factor=$RF
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=$RF
transaction.state.log.min.isr=$MIN_ISR
transaction.state.log.num.partitions=1
share.coordinator.state.topic.replication.factor=$RF
share.coordinator.state.topic.min.isr=$MIN_ISR
share.coordinator.state.topic.num.partitions=1
group.initial.rebalance.delay.ms=0
num.network.threads=2
num.io.threads=4
EOF
  cat >"$dir/log4j2.properties" <<'EOF'
# Generated by scripts/infra/kafka.sh: everything to stdout, which the script sends to kafka.log.
# No log4j shutdown hook: it would stop logging before Kafka has finished shutting down.
shutdownHook = disable
appender.stdout.type = Console
appender.stdout.name = STDOUT
appender.stdout.layout.type = PatternLayout
appender.stdout.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRefs = stdout
rootLogger.appenderRef.stdout.ref = STDOUT
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.zk.name = org.apache.zookeeper
logger.zk.level = WARN
EOF
}

# A cluster id is a base64url-encoded random 16-byte UUID (22 chars); Kafka's own generator avoids
# ids starting with '-' (they look like options), and so do we.
new_cluster_id() {
  local id="-"
  while [[ "$id" == -* ]]; do
    id="$(head -c16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')"
  done
  printf '%s' "$id"
}

# Every node of a cluster is formatted with the one cluster id kept in the instance dir.
format_storage() {
  local node="$1" dir
  dir="$(node_dir "$node")"
  mkdir -p "$dir/data"
  [[ -s "$CLUSTER_ID_FILE" ]] || new_cluster_id >"$CLUSTER_ID_FILE"
  [[ -f "$dir/data/meta.properties" ]] && return 0
  log "formatting node $node storage (cluster id $(cat "$CLUSTER_ID_FILE"))"
  java_opts "$node"
  java "${JAVA_OPTS[@]}" -cp "$LIBS/*" kafka.tools.StorageTool format \
    -t "$(cat "$CLUSTER_ID_FILE")" -c "$(props "$node")" --ignore-formatted \
    >>"$(logfile "$node")" 2>&1 ||
    {
      show_log "$(logfile "$node")"
      die "storage format failed"
    }
}

# Ready: the node answers a Metadata request that lists it as a live broker (it has rejoined
# and the controller unfenced it) and, for a whole-cluster start, every node of the cluster.
node_ready() {
  python3 "$INFRA_DIR/kafka_ready.py" 127.0.0.1 "$(broker_port "$1")" 5 --node-id "$1" \
    --brokers "${2:-1}"
}

node_alive() { pid_alive "$(pidfile "$1")" "$(pattern "$1")"; }

prepare_node() {
  mkdir -p "$(node_dir "$1")"
  write_config "$1"
  format_storage "$1"
}

launch_node() {
  local node="$1"
  require_free_port "$(broker_port "$node")" SWITCHBOARD_KAFKA_PORT
  require_free_port "$(controller_port "$node")" SWITCHBOARD_KAFKA_CONTROLLER_PORT
  log "starting node $node on 127.0.0.1:$(broker_port "$node") (controller $(controller_port "$node"))"
  java_opts "$node"
  start_background "$(pidfile "$node")" "$(logfile "$node")" \
    java "${JAVA_OPTS[@]}" -cp "$LIBS/*" kafka.Kafka "$(props "$node")"
}

# await_node NODE [BROKERS] : until node_ready NODE BROKERS (or the process dies).
await_node() {
  local node="$1"
  COMPONENT="kafka node $node" await_ready "$(pidfile "$node")" "$(pattern "$node")" \
    "$READY_TIMEOUT" "$(logfile "$node")" node_ready "$node" "${2:-1}"
}

# A single node and a cluster at the default places share node 1's ports: refuse to start one
# while the other runs, instead of failing later with "Address already in use".
refuse_other_shape() {
  [[ -z "${SWITCHBOARD_KAFKA_INSTANCE_DIR:-}" ]] || return 0
  local other
  if ((BROKERS == 1)); then other="$CLUSTER_DIR/node-*/kafka.pid"; else other="$SINGLE_DIR/kafka.pid"; fi
  local pidfile
  for pidfile in $other; do
    if [[ -f "$pidfile" ]] && pid_alive "$pidfile" "kafka.Kafka"; then
      die "a Kafka of the other shape runs ($pidfile); stop it first: kafka.sh stop"
    fi
  done
}

nodes_of() {
  if [[ -n "${1:-}" ]]; then
    [[ "$1" =~ ^[1-9]$ ]] && (($1 <= BROKERS)) || die "no node '$1' (nodes 1..$BROKERS)"
    printf '%s\n' "$1"
  else
    seq 1 "$BROKERS"
  fi
}

do_start() {
  do_install
  refuse_other_shape
  local node nodes missing=() jobs=() job
  nodes="$(nodes_of "${1:-}")"
  for node in $nodes; do
    if node_alive "$node"; then
      log "node $node already running (pid $(read_pid "$(pidfile "$node")"))"
    else
      missing+=("$node")
    fi
  done
  # Formatting starts a JVM per node: do it side by side. Then launch every missing node before
  # waiting for any: a controller quorum needs a majority before any node is ready.
  for node in "${missing[@]}"; do
    prepare_node "$node" &
    jobs+=($!)
  done
  for job in "${jobs[@]}"; do wait "$job" || die "could not prepare a node"; done
  for node in "${missing[@]}"; do launch_node "$node"; done
  # A whole-cluster start waits until every node sees all of them; one node, until it is back.
  local want=1
  [[ -n "${1:-}" ]] || want=$BROKERS
  for node in $nodes; do
    await_node "$node" "$want" || return 1
  done
}

# stop_in_turn PIDFILE PATTERN [PIDFILE PATTERN ...] : SIGTERM one after the other (each a
# controlled shutdown: the controller moves its leaders away first). The last node of a cluster
# has no controller majority left to approve that and would wait minutes, so it gets a short
# grace before SIGKILL (its data is on disk: a restart recovers the log).
stop_in_turn() {
  local alive=() i
  for ((i = 1; i < $#; i += 2)); do
    local file="${!i}" j=$((i + 1))
    local pat="${!j}"
    if pid_alive "$file" "$pat"; then alive+=("$file" "$pat"); else rm -f "$file"; fi
  done
  local n=$((${#alive[@]} / 2)) failed=0
  for ((i = 0; i < n; i++)); do
    local grace=30
    ((n > 1 && i == n - 1)) && grace=5
    stop_pid "${alive[2 * i]}" "${alive[2 * i + 1]}" "$grace" || failed=1
  done
  return $failed
}

do_stop() {
  local node
  if [[ -n "${1:-}" ]]; then
    node="$(nodes_of "$1")"
    local others=0 other
    for other in $(nodes_of); do
      ((other != node)) && node_alive "$other" && others=$((others + 1))
    done
    local grace=30
    ((BROKERS > 1 && others == 0)) && grace=5 # the last one: see stop_in_turn
    stop_pid "$(pidfile "$node")" "$(pattern "$node")" "$grace"
    return
  fi
  local args=()
  for node in $(seq "$BROKERS" -1 1); do args+=("$(pidfile "$node")" "$(pattern "$node")"); done
  stop_in_turn "${args[@]}" || return 1
  # Without an instance dir of its own, `stop` also stops the other shape (whatever
  # SWITCHBOARD_KAFKA_BROKERS said when it was started).
  [[ -z "${SWITCHBOARD_KAFKA_INSTANCE_DIR:-}" ]] || return 0
  args=()
  local file
  for file in "$SINGLE_DIR/kafka.pid" "$CLUSTER_DIR"/node-*/kafka.pid; do
    [[ -f "$file" ]] && args+=("$file" "kafka.Kafka $(dirname "$file")/server.properties")
  done
  ((${#args[@]} == 0)) || stop_in_turn "${args[@]}"
}

do_kill() {
  local node pid
  node="$(nodes_of "${1:?kafka.sh kill NODE}")"
  if ! node_alive "$node"; then
    log "node $node is not running"
    return 0
  fi
  pid="$(read_pid "$(pidfile "$node")")"
  log "SIGKILL node $node (pid $pid)"
  kill -KILL "$pid"
  while proc_running "$pid"; do sleep 0.05; done
  rm -f "$(pidfile "$node")"
}

do_pid() {
  local node
  node="$(nodes_of "${1:?kafka.sh pid NODE}")"
  node_alive "$node" && read_pid "$(pidfile "$node")" && echo
  return 0
}

do_bootstrap() {
  local node out=""
  for node in $(nodes_of); do out+="${out:+,}127.0.0.1:$(broker_port "$node")"; done
  echo "$out"
}

do_status() {
  local node failed=0 name
  for node in $(nodes_of "${1:-}"); do
    if ((BROKERS == 1)); then name=kafka; else name="kafka node $node"; fi
    report_status "$name" "$(pidfile "$node")" "$(pattern "$node")" \
      "127.0.0.1:$(broker_port "$node")" node_ready "$node" || failed=1
  done
  return $failed
}

case "${1:-}" in
  install | start | stop | status | kill | pid | bootstrap) "do_$1" "${2:-}" ;;
  *)
    echo "usage: kafka.sh {install|start|stop|status|kill|pid|bootstrap} [NODE]" >&2
    exit 2
    ;;
esac
