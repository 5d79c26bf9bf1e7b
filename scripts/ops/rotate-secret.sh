#!/usr/bin/env bash
# Add or remove one provider secret in an ingress setting's JSON value, stdin → stdout; the
# secret comes from $SECRET. Usage:
#   SECRET=<new> rotate-secret.sh add    twilio|whatsapp|vapi|elevenlabs <AccountSid|tenant>
#   SECRET=<old> rotate-secret.sh remove twilio|whatsapp|vapi|elevenlabs <AccountSid|tenant>
# See docs/operations/runbooks.md, "Rotate a provider secret with zero downtime".
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
exec "${SWITCHBOARD_PYTHON:-python3}" "$root/scripts/ops/rotate_secret.py" "$@"
