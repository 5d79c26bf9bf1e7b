#!/usr/bin/env python3
"""Write k8s/base/prometheusrule.yaml from deploy/monitoring/rules.yml, the one rules file.

The Prometheus Operator loads rules only from PrometheusRule objects, and a Prometheus rule file
cannot be one (the file format refuses the object's other fields), so the k8s object is
generated: its ``spec`` is the rules file as it stands. ``make rules`` runs this;
``--check`` exits 1 when the committed object differs (tests/deploy runs it).

    python3 scripts/monitoring/prometheusrule.py [--check]
"""

import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy/monitoring/rules.yml"
OUTPUT = ROOT / "k8s/base/prometheusrule.yaml"
HEADER = """\
# GENERATED from deploy/monitoring/rules.yml by `make rules`: edit that file, not this one
# (tests/deploy fails when they differ). The Prometheus Operator loads rules only from
# PrometheusRule objects; compose and the local Prometheus load the rules file itself.
"""


def render() -> str:
    rules = yaml.safe_load(RULES.read_text())
    rule_object = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": "switchboard"},
        "spec": rules,
    }
    return HEADER + yaml.safe_dump(rule_object, sort_keys=False, width=1000, allow_unicode=True)


def main(argv: list[str]) -> int:
    text = render()
    if argv[1:] == ["--check"]:
        if not OUTPUT.exists() or OUTPUT.read_text() != text:
            sys.stderr.write(f"{OUTPUT.relative_to(ROOT)} is stale: run `make rules`\n")
            return 1
        return 0
    if argv[1:]:
        sys.stderr.write(__doc__ or "")
        return 2
    OUTPUT.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
