#!/usr/bin/env bash
# Install the wrk load generator (Debian package) for `make bench-ingress`; no server to run.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

command -v wrk >/dev/null || apt_install wrk
wrk --version 2>&1 | head -1 >&2 || true
