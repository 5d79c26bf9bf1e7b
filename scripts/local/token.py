"""`make token`: a bearer token for one local API, the way a tenant's integration gets one.

The first time, the operator key `make up` keeps (.local/control/operator.key) makes the tenant
an API key with every tenant scope, kept in .local/control/tenant-<tenant>.key; that key is then
exchanged at the control plane (POST /v1/tokens) for a token of the one audience asked.
Standard library only: it runs before anything else is installed.

    python3 scripts/local/token.py --tenant local --audience history
"""

import argparse
import json
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path

TENANT_SCOPES = [
    "history:read",
    "history:write",
    "campaigns:read",
    "campaigns:write",
    "businesses:read",
    "businesses:admin",
    "control:read",
    "channels:write",
    "accounts:write",
    "keys:admin",
]


def call(url: str, path: str, key: str, body: dict[str, object]) -> dict[str, object]:
    request = urllib.request.Request(
        url + path,
        data=json.dumps(body).encode(),
        headers={"authorization": f"Bearer {key}", "content-type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            result: dict[str, object] = json.load(answer)
            return result
    except urllib.error.HTTPError as exc:
        sys.exit(f"{path}: {exc.code} {exc.read().decode(errors='replace')}")
    except urllib.error.URLError as exc:
        sys.exit(f"control plane at {url} unreachable ({exc.reason}): is `make up` running?")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenant", default="local")
    parser.add_argument("--audience", default="history", help="history, dialer, ai or control")
    args = parser.parse_args()
    port = os.environ.get("SWITCHBOARD_CONTROL_PORT", "8007")
    url = f"http://127.0.0.1:{port}"
    keys = Path(os.environ.get("SWITCHBOARD_LOCAL_DIR", ".local")) / "control"
    tenant_key = keys / f"tenant-{args.tenant}.key"
    if not tenant_key.is_file():
        operator_file = keys / "operator.key"
        if not operator_file.is_file():
            sys.exit(f"no {operator_file}: run `make up` first")
        operator = call(
            url, "/v1/tokens", operator_file.read_text().strip(), {"audience": "control"}
        )
        created = call(
            url,
            f"/v1/admin/tenants/{args.tenant}/api-keys",
            str(operator["access_token"]),
            {"name": "make token", "scopes": TENANT_SCOPES},
        )
        old = os.umask(0o077)
        try:
            tenant_key.write_text(f"{created['key']}\n")
        finally:
            os.umask(old)
    issued = call(url, "/v1/tokens", tenant_key.read_text().strip(), {"audience": args.audience})
    print(issued["access_token"])


if __name__ == "__main__":
    main()
