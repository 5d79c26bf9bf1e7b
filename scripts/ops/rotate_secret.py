"""Add or remove one provider secret in an ingress setting's JSON value (stdin → stdout).

Used by ``rotate-secret.sh`` (docs/operations/runbooks.md, "Rotate a provider secret with zero
downtime"). The secret itself comes from the environment variable ``SECRET``, never from the
command line (which other users and shell histories see).

Shapes, as the ingress settings read them (``switchboard.ingress.settings``):

- ``twilio`` (``SWITCHBOARD_TWILIO__ACCOUNTS``, Secret key ``twilio-accounts``):
  ``{"AC…": {"auth_tokens": ["…"], "tenant": "…"}}``, selected by AccountSid;
- ``whatsapp`` / ``vapi`` / ``elevenlabs`` (``…__APPS`` / ``…__SOURCES``, keys ``whatsapp-apps``,
  ``vapi-sources``, ``elevenlabs-sources``): ``[{"secrets": ["…"], "tenant": "…"}]``, selected
  by tenant (exactly one entry must match).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

KINDS = ("twilio", "whatsapp", "vapi", "elevenlabs")


class RotationError(Exception):
    pass


def _entry(kind: str, value: Any, selector: str) -> tuple[dict[str, Any], str]:
    """The account/app being rotated and the name of its secret list."""
    if kind == "twilio":
        if not isinstance(value, dict) or selector not in value:
            raise RotationError(f"no Twilio account {selector!r} in the setting")
        return value[selector], "auth_tokens"
    if not isinstance(value, list):
        raise RotationError(f"the {kind} setting must be a JSON list")
    matches = [entry for entry in value if entry.get("tenant") == selector]
    if len(matches) != 1:
        raise RotationError(f"{len(matches)} {kind} entries have tenant {selector!r}, need 1")
    return matches[0], "secrets"


def rotate(kind: str, action: str, value: Any, selector: str, secret: str) -> Any:
    """``value`` with ``secret`` added to (``add``) or removed from (``remove``) one entry."""
    if not secret:
        raise RotationError("SECRET is empty")
    entry, key = _entry(kind, value, selector)
    secrets: list[str] = list(entry.get(key, []))
    if action == "add":
        if secret in secrets:
            raise RotationError("that secret is already configured")
        entry[key] = [*secrets, secret]
    else:
        if secret not in secrets:
            raise RotationError("that secret is not configured")
        if len(secrets) == 1:
            raise RotationError("refusing to remove the only secret (add the new one first)")
        entry[key] = [s for s in secrets if s != secret]
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("add", "remove"))
    parser.add_argument("kind", choices=KINDS)
    parser.add_argument("selector", help="AccountSid (twilio) or tenant (the others)")
    args = parser.parse_args(argv)
    try:
        value = json.loads(sys.stdin.read())
        rotated = rotate(args.kind, args.action, value, args.selector, os.environ.get("SECRET", ""))
    except (RotationError, json.JSONDecodeError) as exc:
        sys.stderr.write(f"rotate-secret: {exc}\n")
        return 1
    sys.stdout.write(json.dumps(rotated, separators=(",", ":")) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
