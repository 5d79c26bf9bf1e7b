"""AsyncAPI documents of the running services, and the AsyncAPI schema they must validate against.

``python scripts/asyncapi.py write [DIR]`` asks every running worker and the ingress (started by
``make up``, ports as scripts/services.sh gives them) for ``/asyncapi.yaml`` and writes
``DIR/<service>.yaml`` (default ``docs/asyncapi``): the committed documents are what the services
say they subscribe to and publish, never written by hand. ``tests/ops`` compares them with the
processes it starts and fails when one is stale.

``python scripts/asyncapi.py schema`` fetches the AsyncAPI 3.0.0 JSON Schema from the npm registry
(the ``@asyncapi/specs`` package the AsyncAPI tools validate with) into ``.local/`` once and prints
its path. Nothing is vendored in the repository.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import tempfile
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SPECS_VERSION = "6.8.1"
SCHEMA_DIR = ROOT / ".local" / "asyncapi-specs" / SPECS_VERSION
SCHEMA_FILE = "3.0.0.json"
# service → (port variable, default port) as scripts/services.sh starts them
SERVICES = {
    "ingress": ("SWITCHBOARD_INGRESS_PORT", 8000),
    "history": ("SWITCHBOARD_HISTORY_PORT", 8001),
    "dialer": ("SWITCHBOARD_DIALER_PORT", 8005),
    "ai": ("SWITCHBOARD_AI_PORT", 8003),
}


def schema_path() -> Path:
    """The AsyncAPI 3.0.0 schema, fetched with ``npm pack`` the first time."""
    target = SCHEMA_DIR / SCHEMA_FILE
    if target.exists():
        return target
    SCHEMA_DIR.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            ["npm", "pack", f"@asyncapi/specs@{SPECS_VERSION}", "--silent"],
            cwd=tmp,
            check=True,
            capture_output=True,
            timeout=300,
        )
        (tgz,) = Path(tmp).glob("*.tgz")
        with tarfile.open(tgz) as archive:
            member = archive.extractfile(f"package/schemas/{SCHEMA_FILE}")
            assert member is not None
            partial = target.with_suffix(".part")
            partial.write_bytes(member.read())
            partial.replace(target)
    return target


def write(dest: Path) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    for service, (variable, default) in SERVICES.items():
        port = os.environ.get(variable, str(default))
        url = f"http://127.0.0.1:{port}/asyncapi.yaml"
        with urllib.request.urlopen(url, timeout=10) as response:
            (dest / f"{service}.yaml").write_bytes(response.read())
        print(f"{dest / service}.yaml  ← {url}")


def main(argv: list[str]) -> int:
    command = argv[1] if len(argv) > 1 else ""
    if command == "schema":
        print(schema_path())
        return 0
    if command == "write":
        write(Path(argv[2]) if len(argv) > 2 else ROOT / "docs" / "asyncapi")
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
