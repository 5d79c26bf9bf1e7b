"""A real Prometheus and Alertmanager for a test, run by scripts/infra with its own ports, data,
targets and rules; a webhook receiver that records what Alertmanager notifies; a Kafka of the
test's own (``common.localkafka``), so stopping it disturbs no other test.

The Prometheus evaluates a *compressed* copy of deploy/monitoring/rules.yml (``compressed``): every
duration (``for:``, range selectors, subqueries) divided by 60, so a 10-minute condition takes
10 seconds; thresholds and expressions are the file's own. It is generated from the one file
on every run, never kept.
"""

import json
import os
import re
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from switchboard.common.localkafka import LocalKafka
from switchboard.common.testing import free_port

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy/monitoring/rules.yml"
INFRA = ROOT / "scripts/infra"
TIME_FACTOR = 60
SCRIPT_TIMEOUT_S = 300

_DURATION = re.compile(r"(\d+)([smhd])")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def scale(duration: str, factor: int = TIME_FACTOR) -> str:
    """``10m`` → ``10s`` (a factor of 60); never below 1s unless it was 0."""
    seconds = sum(int(n) * _SECONDS[unit] for n, unit in _DURATION.findall(duration))
    return f"{max(seconds // factor, 1) if seconds else 0}s"


def compressed(rules_text: str, factor: int = TIME_FACTOR) -> str:
    """The rules with every duration divided by ``factor`` (``for:`` and each ``[range]`` or
    ``[range:step]`` of an expression); everything else unchanged."""

    def ranges(match: re.Match[str]) -> str:
        return "[" + ":".join(scale(part, factor) for part in match.group(1).split(":")) + "]"

    rules = yaml.safe_load(rules_text)
    for group in rules["groups"]:
        for rule in group["rules"]:
            if "for" in rule:
                rule["for"] = scale(rule["for"], factor)
            rule["expr"] = re.sub(r"\[([0-9smhd:]+)\]", ranges, rule["expr"])
    return yaml.safe_dump(rules, sort_keys=False, width=1000)


@pytest.fixture
def compress_rules() -> Any:
    """:func:`compressed`, for the test that checks it."""
    return compressed


def run_script(script: str, verb: str, env: dict[str, str]) -> None:
    done = subprocess.run(
        ["bash", str(INFRA / script), verb],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=SCRIPT_TIMEOUT_S,
        check=False,
    )
    if done.returncode != 0:
        raise AssertionError(f"{script} {verb} failed:\n{done.stderr[-4000:]}")


# --------------------------------------------------------------------------- Kafka of our own


@pytest.fixture(scope="module")
def own_kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalKafka]:
    """One broker of the test's own (scripts/infra/kafka.sh through common.localkafka)."""
    kafka = LocalKafka(ROOT, tmp_path_factory.mktemp("kafka"))
    kafka.start()
    try:
        yield kafka
    finally:
        kafka.destroy()


# --------------------------------------------------------------------------- webhook receiver


@dataclass
class Notifications:
    """What Alertmanager POSTed, one entry per alert in each notification."""

    alerts: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, payload: dict[str, Any]) -> None:
        with self.lock:
            self.alerts.extend(payload.get("alerts", []))

    def of(self, alertname: str, status: str, **labels: str) -> list[dict[str, Any]]:
        with self.lock:
            return [
                a
                for a in self.alerts
                if a["labels"].get("alertname") == alertname
                and a["status"] == status
                and all(a["labels"].get(k) == v for k, v in labels.items())
            ]

    def names(self, status: str = "firing") -> set[str]:
        with self.lock:
            return {a["labels"]["alertname"] for a in self.alerts if a["status"] == status}


@pytest.fixture(scope="module")
def receiver() -> Iterator[tuple[str, Notifications]]:
    notifications = Notifications()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", 0))
            notifications.add(json.loads(self.rfile.read(length)))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/alerts", notifications
    finally:
        server.shutdown()
        server.server_close()


# --------------------------------------------------------------------------- Prometheus + AM


@dataclass
class Monitoring:
    prometheus: str
    alertmanager: str
    targets: Path
    notifications: Notifications

    def set_targets(self, targets: dict[str, tuple[int, str, str]]) -> None:
        """name → (port, service, process), as scripts/services.sh targets writes them."""
        groups = [
            {"targets": [f"127.0.0.1:{port}"], "labels": {"service": service, "process": process}}
            for port, service, process in targets.values()
        ]
        tmp = self.targets.with_suffix(".tmp")
        tmp.write_text(json.dumps(groups))
        tmp.replace(self.targets)  # Prometheus rereads the file when it changes

    def query(self, expr: str) -> list[dict[str, Any]]:
        response = httpx.get(f"{self.prometheus}/api/v1/query", params={"query": expr}, timeout=10)
        response.raise_for_status()
        result: list[dict[str, Any]] = response.json()["data"]["result"]
        return result

    def firing(self) -> dict[str, list[dict[str, str]]]:
        """alertname → label sets of the alerts Prometheus has firing now."""
        response = httpx.get(f"{self.prometheus}/api/v1/alerts", timeout=10)
        response.raise_for_status()
        out: dict[str, list[dict[str, str]]] = {}
        for alert in response.json()["data"]["alerts"]:
            if alert["state"] == "firing":
                out.setdefault(alert["labels"]["alertname"], []).append(alert["labels"])
        return out

    def targets_up(self) -> dict[str, str]:
        response = httpx.get(f"{self.prometheus}/api/v1/targets", timeout=10)
        response.raise_for_status()
        return {
            t["labels"]["instance"]: t["health"] for t in response.json()["data"]["activeTargets"]
        }


def alertmanager_config(webhook: str) -> str:
    """Every alert its own group, notified a second after it changes, resolutions too."""
    return yaml.safe_dump(
        {
            "route": {
                "receiver": "test",
                "group_by": ["..."],
                "group_wait": "1s",
                "group_interval": "1s",
                "repeat_interval": "1h",
            },
            "receivers": [
                {"name": "test", "webhook_configs": [{"url": webhook, "send_resolved": True}]}
            ],
        }
    )


@pytest.fixture(scope="module")
def monitoring(
    tmp_path_factory: pytest.TempPathFactory, receiver: tuple[str, Notifications]
) -> Iterator[Monitoring]:
    webhook, notifications = receiver
    base = tmp_path_factory.mktemp("monitoring")
    rules = base / "rules-compressed.yml"
    rules.write_text(compressed(RULES.read_text()))
    am_config = base / "alertmanager-test.yml"
    am_config.write_text(alertmanager_config(webhook))
    targets = base / "targets.json"
    targets.write_text("[]")
    prom_port, am_port = free_port(), free_port()
    env = {
        "SWITCHBOARD_PROMETHEUS_DIR": str(base / "prometheus"),
        "SWITCHBOARD_PROMETHEUS_PORT": str(prom_port),
        "SWITCHBOARD_PROMETHEUS_TARGETS": str(targets),
        "SWITCHBOARD_PROMETHEUS_RULES": str(rules),
        "SWITCHBOARD_PROMETHEUS_INTERVAL": "1s",
        "SWITCHBOARD_ALERTMANAGER_DIR": str(base / "alertmanager"),
        "SWITCHBOARD_ALERTMANAGER_PORT": str(am_port),
        "SWITCHBOARD_ALERTMANAGER_CONFIG": str(am_config),
    }
    run_script("alertmanager.sh", "start", env)
    try:
        run_script("prometheus.sh", "start", env)
        try:
            yield Monitoring(
                f"http://127.0.0.1:{prom_port}",
                f"http://127.0.0.1:{am_port}",
                targets,
                notifications,
            )
        finally:
            run_script("prometheus.sh", "stop", env)
    finally:
        run_script("alertmanager.sh", "stop", env)
