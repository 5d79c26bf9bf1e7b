#!/bin/sh
# Create every topic of deploy/topics.yaml (idempotent). Runs in compose's one-shot topic-init
# container (the apache/kafka image has sh and awk but no Python), and in tests with
# KAFKA_TOPICS_BIN=echo to check that it reads the table exactly as PyYAML does.
set -eu
TABLE="${TOPICS_TABLE:-/deploy/topics.yaml}"
BOOTSTRAP="${KAFKA_BOOTSTRAP:-kafka-1:9092,kafka-2:9092,kafka-3:9092}"
BIN="${KAFKA_TOPICS_BIN:-/opt/kafka/bin/kafka-topics.sh}"
# Replication from the table (REPLICATION_FACTOR / MIN_INSYNC_REPLICAS override it, e.g. for a
# one-broker test cluster).
RF="${REPLICATION_FACTOR:-$(awk -F': *' '/^replication_factor:/ {split($2, v, " "); print v[1]}' "$TABLE")}"
MIN_ISR="${MIN_INSYNC_REPLICAS:-$(awk -F': *' '/^min_insync_replicas:/ {split($2, v, " "); print v[1]}' "$TABLE")}"

# Lines look like `  call.events: {partitions: 24, retention_hours: 168}`, or
# `  control.config: {partitions: 1, cleanup_policy: compact}` for a compacted topic (the last
# value of each key kept for good; segments roll daily so superseded values are compacted away).
awk '
  /^topics:/ { in_topics = 1; next }
  /^[^ #]/ { in_topics = 0 }
  in_topics && /^  [a-z]/ {
    name = $1; sub(":", "", name)
    match($0, /partitions: *[0-9]+/); p = substr($0, RSTART, RLENGTH); gsub(/[^0-9]/, "", p)
    if ($0 ~ /cleanup_policy: *compact/) {
      printf "%s %s cleanup.policy=compact segment.ms=86400000\n", name, p
    } else {
      match($0, /retention_hours: *[0-9]+/); r = substr($0, RSTART, RLENGTH); gsub(/[^0-9]/, "", r)
      printf "%s %s retention.ms=%.0f\n", name, p, r * 3600000
    }
  }
' "$TABLE" | while read -r name partitions config1 config2; do
  # shellcheck disable=SC2086  # config2 is empty or one more --config pair
  "$BIN" --bootstrap-server "$BOOTSTRAP" --create --if-not-exists --topic "$name" \
    --partitions "$partitions" --replication-factor "$RF" \
    --config "$config1" ${config2:+--config "$config2"} --config "min.insync.replicas=$MIN_ISR"
done
