#!/usr/bin/env bash
# Restore a mongo-backup.sh directory into a database that holds no collections yet (restore
# next to the live one, check it, then point SWITCHBOARD_MONGO__DATABASE at it).
# Usage: mongo-restore.sh <directory> <database>
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
in="${1:?usage: mongo-restore.sh <directory> <database>}"
db="${2:?usage: mongo-restore.sh <directory> <database>}"
exec "${SWITCHBOARD_PYTHON:-$root/.venv/bin/python}" "$root/scripts/ops/mongo_backup.py" \
  restore "$in" "$db"
