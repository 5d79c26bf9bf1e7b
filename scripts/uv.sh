#!/usr/bin/env bash
# Runs the project's pinned uv, installing it under .local/tools on first use.
# Only python3 (3.11+) is needed on the machine; PyPI is the only source.
set -euo pipefail
UV_VERSION="0.13.9"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools="${SWITCHBOARD_LOCAL_DIR:-$root/.local}/tools"
uv="$tools/bin/uv"
if [[ ! -x "$uv" ]] || [[ "$("$uv" --version 2>/dev/null)" != "uv $UV_VERSION"* ]]; then
  echo "installing uv $UV_VERSION into $tools" >&2
  python3 -m venv "$tools"
  "$tools/bin/pip" install --quiet --disable-pip-version-check "uv==$UV_VERSION"
fi
exec "$uv" "$@"
