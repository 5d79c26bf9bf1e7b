#!/usr/bin/env bash
# Restore a pg-backup.sh file into a database that must not exist yet (restore next to the
# live one, check it, then switch the service over). Usage: pg-restore.sh <file> <database>
set -euo pipefail
in="${1:?usage: pg-restore.sh <file> <database>}"
db="${2:?usage: pg-restore.sh <file> <database>}"
host="${SWITCHBOARD_POSTGRES__HOST:-127.0.0.1}"
port="${SWITCHBOARD_POSTGRES__PORT:-15432}"
user="${SWITCHBOARD_POSTGRES__USER:-postgres}"
createdb --host "$host" --port "$port" --username "$user" "$db"
pg_restore --host "$host" --port "$port" --username "$user" --dbname "$db" --no-owner \
  --exit-on-error "$in"
echo "restored $in into $db"
