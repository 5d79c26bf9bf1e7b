"""Monitoring manifests: Prometheus Operator CRD schemas, runbook links, dashboards ConfigMap.

The PodMonitor / PrometheusRule schemas are the CRDs' ``openAPIV3Schema`` from the operator's Go
module, fetched once into ``.local/`` by ``fetch_crd_schemas.py`` (nothing vendored), made strict
(unknown fields fail) like the KEDA one.
"""

import copy
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

RUNBOOKS = "docs/operations/runbooks.md"
DASHBOARDS = "compose/grafana/dashboards"


@pytest.fixture(scope="module")
def crd_schemas(repo: Path, strict_schema: Any) -> dict[str, dict[str, Any]]:
    done = subprocess.run(
        [sys.executable, str(repo / "tests/deploy/fetch_crd_schemas.py")],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    folder = Path(done.stdout.strip())
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["module"] == "github.com/prometheus-operator/prometheus-operator"
    return {
        kind: python_patterns(
            strict_schema(json.loads((folder / f"{kind.lower()}-v1.json").read_text()))
        )
        for kind in ("PodMonitor", "PrometheusRule", "ServiceMonitor")
    }


def python_patterns(schema: Any) -> Any:
    """The CRDs' patterns are Go RE2: ``^(?i)…`` puts a flag after the anchor, which Python's
    ``re`` refuses; ``(?i)^…`` means the same there."""
    if isinstance(schema, dict):
        return {
            k: (
                re.sub(r"^\^\(\?i\)", "(?i)^", v)
                if k == "pattern" and isinstance(v, str)
                else python_patterns(v)
            )
            for k, v in schema.items()
        }
    if isinstance(schema, list):
        return [python_patterns(v) for v in schema]
    return schema


def of_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind]


def test_monitoring_objects_match_the_prometheus_operator_crds(
    overlay: Any, crd_schemas: dict[str, Any]
) -> None:
    _, objects = overlay
    monitoring = [o for o in objects if o["apiVersion"].startswith("monitoring.coreos.com/")]
    assert {o["kind"] for o in monitoring} == {"PodMonitor", "PrometheusRule"}
    for obj in monitoring:
        assert obj["apiVersion"] == "monitoring.coreos.com/v1"
        jsonschema.validate(obj, crd_schemas[obj["kind"]])


def test_the_crd_schemas_reject_unknown_and_mistyped_fields(
    render_overlay: Any, crd_schemas: dict[str, Any]
) -> None:
    objects = render_overlay("prod")
    monitor = copy.deepcopy(of_kind(objects, "PodMonitor")[0])
    monitor["spec"]["podMetricsEndpoints"][0]["targetPortz"] = 8000
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(monitor, crd_schemas["PodMonitor"])
    rule = copy.deepcopy(of_kind(objects, "PrometheusRule")[0])
    rule["spec"]["groups"][0]["rules"][0]["for"] = 600  # a duration string, not a number
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(rule, crd_schemas["PrometheusRule"])
    rule = copy.deepcopy(of_kind(objects, "PrometheusRule")[0])
    del rule["spec"]["groups"][0]["name"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(rule, crd_schemas["PrometheusRule"])


# --------------------------------------------------------------------------- runbook links


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a Markdown heading (lowercase, punctuation dropped, - for spaces)."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def runbook_anchors(markdown: str) -> set[str]:
    anchors: set[str] = set()
    seen: dict[str, int] = {}
    in_code = False
    for line in markdown.splitlines():
        if line.lstrip().startswith("```"):
            in_code = not in_code
        elif not in_code and (match := re.match(r"#{1,6} (.+)", line)):
            anchor = github_anchor(match.group(1))
            count = seen.get(anchor, 0)
            seen[anchor] = count + 1
            anchors.add(anchor if count == 0 else f"{anchor}-{count}")
    return anchors


def test_anchors_are_computed_like_github() -> None:
    assert github_anchor("Deploy, roll back, scale") == "deploy-roll-back-scale"
    assert github_anchor("Back up and restore MongoDB") == "back-up-and-restore-mongodb"
    assert runbook_anchors(
        "# A\n## Kafka outage\n```\n# not a heading\n```\n## Kafka outage\n"
    ) == {
        "a",
        "kafka-outage",
        "kafka-outage-1",
    }


def test_every_alert_links_an_existing_runbook_section(overlay: Any, repo: Path) -> None:
    _, objects = overlay
    anchors = runbook_anchors((repo / RUNBOOKS).read_text())
    rules = [
        rule
        for obj in of_kind(objects, "PrometheusRule")
        for group in obj["spec"]["groups"]
        for rule in group["rules"]
        if "alert" in rule
    ]
    assert len(rules) >= 8
    for rule in rules:
        url = rule["annotations"].get("runbook_url", "")
        page, _, anchor = url.partition("#")
        assert page.startswith("https://") and page.endswith("/" + RUNBOOKS), (rule["alert"], url)
        assert anchor in anchors, (rule["alert"], anchor, sorted(anchors))
    # The runbooks name every alert they are linked from.
    text = (repo / RUNBOOKS).read_text()
    unnamed = {r["alert"] for r in rules} - set(re.findall(r"Switchboard\w+", text))
    spool_alerts = {"SwitchboardIngressSpoolBacklog", "SwitchboardIngressSpoolStale"}
    assert unnamed <= spool_alerts | {"SwitchboardDeadLetters"}, unnamed


# --------------------------------------------------------------------------- dashboards ConfigMap


def dashboard_files(repo: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted((repo / DASHBOARDS).glob("*.json"))}


def check_dashboards_config_map(objects: list[dict[str, Any]], repo: Path) -> None:
    maps = [
        o
        for o in of_kind(objects, "ConfigMap")
        if "grafana_dashboard" in o["metadata"].get("labels", {})
    ]
    assert len(maps) == 1, maps
    config_map = maps[0]
    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert config_map["metadata"]["name"] == "switchboard-grafana-dashboards"  # no hash suffix
    files = dashboard_files(repo)
    assert files, "no dashboards"
    assert config_map["data"] == files
    for name, text in config_map["data"].items():
        dashboard = json.loads(text)
        assert dashboard["uid"] and dashboard["panels"], name
    # ConfigMaps hold at most 1 MiB; client-side apply stores a copy in a 256 KiB annotation.
    assert sum(len(t.encode()) for t in files.values()) < 256 * 1024


def test_the_dashboards_config_map_holds_every_dashboard(overlay: Any, repo: Path) -> None:
    _, objects = overlay
    check_dashboards_config_map(objects, repo)


def test_the_dashboards_kustomization_lists_every_dashboard_file(repo: Path) -> None:
    kustomization = yaml.safe_load((repo / DASHBOARDS / "kustomization.yaml").read_text())
    listed = {f for g in kustomization["configMapGenerator"] for f in g["files"]}
    assert listed == set(dashboard_files(repo))
    assert kustomization["generatorOptions"]["labels"] == {"grafana_dashboard": "1"}
    base = yaml.safe_load((repo / "k8s/base/kustomization.yaml").read_text())
    assert "../../compose/grafana/dashboards" in base["resources"]


def test_each_overlay_renders_the_dashboards_config_map(render_overlay: Any, repo: Path) -> None:
    for name in ("dev", "prod"):
        check_dashboards_config_map(render_overlay(name), repo)


# --------------------------------------------------------------------------- the one rules file


def test_the_prometheus_rule_is_generated_from_the_rules_file(repo: Path) -> None:
    """k8s/base/prometheusrule.yaml is `make rules`' output of deploy/monitoring/rules.yml."""
    done = subprocess.run(
        [sys.executable, str(repo / "scripts/monitoring/prometheusrule.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    rules = yaml.safe_load((repo / "deploy/monitoring/rules.yml").read_text())
    [rule_object] = [
        d for d in yaml.safe_load_all((repo / "k8s/base/prometheusrule.yaml").read_text()) if d
    ]
    assert rule_object["spec"] == rules


def test_the_check_notices_a_hand_edited_prometheus_rule(repo: Path, tmp_path: Path) -> None:
    copy_root = tmp_path / "repo"
    for path in ("scripts/monitoring/prometheusrule.py", "deploy/monitoring/rules.yml",
                 "k8s/base/prometheusrule.yaml"):  # fmt: skip
        (copy_root / path).parent.mkdir(parents=True, exist_ok=True)
        (copy_root / path).write_text((repo / path).read_text())
    generated = copy_root / "k8s/base/prometheusrule.yaml"
    generated.write_text(generated.read_text().replace("for: 10m", "for: 20m", 1))
    done = subprocess.run(
        [sys.executable, str(copy_root / "scripts/monitoring/prometheusrule.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert "make rules" in done.stderr


def test_no_other_file_holds_alert_rules(repo: Path) -> None:
    """No copies: besides the rules file, only the generated PrometheusRule has `alert:` rules."""
    holders = set()
    for folder in ("k8s", "compose", "deploy", "scripts"):
        for path in (repo / folder).rglob("*.y*ml"):
            if re.search(r"^\s*-?\s*alert:\s*Switchboard", path.read_text(), re.MULTILINE):
                holders.add(str(path.relative_to(repo)))
    assert holders == {"deploy/monitoring/rules.yml", "k8s/base/prometheusrule.yaml"}
