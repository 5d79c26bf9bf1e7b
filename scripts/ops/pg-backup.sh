#!/usr/bin/env bash
# Back up one service database to a file (pg_dump custom format, compressed, consistent
# snapshot). Usage: pg-backup.sh <database> <file>
# Connection from SWITCHBOARD_POSTGRES__HOST/__PORT/__USER (defaults: the local server) and
# PGPASSWORD when a password is needed.
set -euo pipefail
db="${1:?usage: pg-backup.sh <database> <file>}"
out="${2:?usage: pg-backup.sh <database> <file>}"
host="${SWITCHBOARD_POSTGRES__HOST:-127.0.0.1}"
port="${SWITCHBOARD_POSTGRES__PORT:-15432}"
user="${SWITCHBOARD_POSTGRES__USER:-postgres}"
tmp="$out.partial"
pg_dump --host "$host" --port "$port" --username "$user" --format custom --compress 6 \
  --no-owner --file "$tmp" "$db"
mv "$tmp" "$out"   # a half-written backup never carries the final name
echo "backed up $db to $out ($(stat -c %s "$out") bytes)"
