#!/usr/bin/env bash
# Back up one MongoDB database (the AI service's) to a new directory of gzip'd canonical
# Extended JSON per collection plus its index definitions (scripts/ops/mongo_backup.py; works on
# MongoDB 7 and FerretDB v1). Usage: mongo-backup.sh <database> <directory>
# Server from SWITCHBOARD_MONGO__URL (default: the local FerretDB); Python from
# SWITCHBOARD_PYTHON (default: the checkout's .venv, which has pymongo).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
db="${1:?usage: mongo-backup.sh <database> <directory>}"
out="${2:?usage: mongo-backup.sh <database> <directory>}"
exec "${SWITCHBOARD_PYTHON:-$root/.venv/bin/python}" "$root/scripts/ops/mongo_backup.py" \
  backup "$db" "$out"
