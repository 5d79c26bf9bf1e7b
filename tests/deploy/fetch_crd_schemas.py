"""Fetch the Prometheus Operator CRDs' OpenAPI schemas into .local/ (idempotent).

The CRD YAML ships inside the operator's Go module
(``example/prometheus-operator-crd/monitoring.coreos.com_<plural>.yaml``), so ``go mod download``
gets it from the Go module proxy like any Go dependency, checked against go.sum's database. The
``openAPIV3Schema`` of each kind's served version is written as JSON next to a manifest naming
the module version and its hash. Nothing is vendored in the repository.

Usage: ``python tests/deploy/fetch_crd_schemas.py [--dest DIR]``; prints the directory. A second
run with the files present does nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml  # type: ignore[import-untyped]  # no stubs in the dev dependencies

ROOT = Path(__file__).resolve().parents[2]
MODULE = "github.com/prometheus-operator/prometheus-operator"
VERSION = "v0.85.0"
CRD_DIR = "example/prometheus-operator-crd"
# kind → CRD file (plural), version whose schema we validate against.
KINDS = {
    "PodMonitor": ("podmonitors", "v1"),
    "ServiceMonitor": ("servicemonitors", "v1"),
    "PrometheusRule": ("prometheusrules", "v1"),
}
DEFAULT_DEST = ROOT / ".local/crd-schemas" / f"prometheus-operator-{VERSION}"


def schema_file(dest: Path, kind: str) -> Path:
    return dest / f"{kind.lower()}-{KINDS[kind][1]}.json"


def complete(dest: Path) -> bool:
    return (dest / "manifest.json").exists() and all(
        schema_file(dest, kind).exists() for kind in KINDS
    )


def download(cache: Path) -> dict[str, str]:
    """``go mod download -json`` into a module cache of our own under ``.local/``."""
    cache.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "GOMODCACHE": str(cache),
        # Self-contained: works without $HOME (go keeps its checksum-database cache in GOPATH).
        "GOPATH": str(cache.parent / "gopath"),
        "GOCACHE": str(cache.parent / "gocache"),
        "GOFLAGS": "-modcacherw",  # so the cache can be deleted without chmod
        "GOTOOLCHAIN": "local",
        "GO111MODULE": "on",
    }
    done = subprocess.run(
        ["go", "mod", "download", "-json", f"{MODULE}@{VERSION}"],
        cwd=cache,  # no go.mod here: a plain module download
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    info: dict[str, str] = json.loads(done.stdout) if done.stdout.strip() else {}
    if done.returncode != 0 or "Error" in info or not info.get("Dir"):
        raise SystemExit(
            f"go mod download {MODULE}@{VERSION} failed ({done.returncode}): "
            f"{info.get('Error', '')} {done.stderr.strip()}"
        )
    return info


def extract(module_dir: Path, kind: str) -> dict[str, object]:
    plural, version = KINDS[kind]
    crd = yaml.safe_load(
        (module_dir / CRD_DIR / f"monitoring.coreos.com_{plural}.yaml").read_text()
    )
    assert crd["spec"]["names"]["kind"] == kind, crd["spec"]["names"]
    served = {v["name"]: v for v in crd["spec"]["versions"]}
    schema: dict[str, object] = served[version]["schema"]["openAPIV3Schema"]
    return schema


def fetch(dest: Path) -> Path:
    if complete(dest):
        return dest
    info = download(dest.parent / "gomodcache")
    partial = dest.with_name(f"{dest.name}.partial-{os.getpid()}")  # concurrent runs stay apart
    partial.mkdir(parents=True, exist_ok=True)
    for kind in KINDS:
        schema = extract(Path(info["Dir"]), kind)
        schema_file(partial, kind).write_text(json.dumps(schema, indent=1, sort_keys=True) + "\n")
    manifest = {
        "module": MODULE,
        "version": info["Version"],
        "sum": info.get("Sum"),
        "files": {kind: f"{CRD_DIR}/monitoring.coreos.com_{KINDS[kind][0]}.yaml" for kind in KINDS},
    }
    (partial / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    if complete(dest):  # another run finished first
        shutil.rmtree(partial)
        return dest
    shutil.rmtree(dest, ignore_errors=True)  # an earlier run stopped half-way
    partial.rename(dest)
    return dest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dest", type=Path, default=DEFAULT_DEST)
    args = parser.parse_args(argv)
    sys.stdout.write(f"{fetch(args.dest)}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
