"""Every metric the Grafana dashboards and the alert rules query is exported by a running service;
every log line is JSON; the committed AsyncAPI documents are what the running services serve.

Starts the real processes Prometheus scrapes (compose/prometheus/prometheus.yml): ingress, history
worker + API, dialer worker + API, AI worker + API and the lag exporter, on free ports with their
own databases, consumer groups and Redis namespaces, scrapes each ``/metrics`` and checks every
metric name in the dashboards' PromQL (``compose/grafana/dashboards/*.json``) and the alert rules
(``deploy/monitoring/rules.yml``). Series that come from outside Switchboard are listed
in ``EXTERNAL`` with where they come from.
"""

import asyncio
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr
from pymongo import MongoClient

from switchboard.common.config import TwilioAccount
from switchboard.common.migrations import drop_database
from switchboard.common.settings import CommonSettings, KafkaSettings, PostgresSettings
from switchboard.common.testing import (
    ServiceProcess,
    config_env,
    config_settings,
    eventually,
    free_port,
    fresh_group,
    seeded_config_env,
    unique,
)
from switchboard.common.topics import (
    CALL_EVENTS,
    MESSAGE_INBOUND,
    MESSAGE_OUTBOUND,
    MESSAGE_STATUS,
    Groups,
)

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
READY_TIMEOUT_S = 120.0

# Metric → who exports it (not a Switchboard process, so no service here can).
EXTERNAL = {
    "up": "Prometheus itself: 1 when a target's scrape succeeded (SwitchboardTargetDown)",
}
# Exposition sample names a family of each type gives (PromQL queries these).
SUFFIXES = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "summary": ("", "_count", "_sum", "_created"),
    "info": ("_info",),
    "stateset": ("",),
    "unknown": ("",),
}
PROMQL_WORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset",
    "and", "or", "unless", "inf", "nan",
}  # fmt: skip
KAFKA_TOPICS = (CALL_EVENTS, MESSAGE_INBOUND, MESSAGE_STATUS, MESSAGE_OUTBOUND)
KAFKA_GROUPS = (Groups.HISTORY, Groups.DIALER, Groups.AI)
# docs/asyncapi/<document> ← the process serving it
ASYNCAPI = {"ingress": "ingress", "history": "history-worker", "dialer": "dialer-worker",
            "ai": "ai-worker"}  # fmt: skip
DIALER_COMMANDS_PREFIX = "dialer-commands"  # the dialer's default (DialerSettings)
AI_KEY = '{"ops-test": "QdoJaGjUMfwMggz4CCZv5jCJr6qpT/Gza+SRx1o5SNs="}'
DIALER_ACCOUNT = "AC" + "0f" * 16
DIALER_CAP = 7


def metric_names(expr: str) -> set[str]:
    """The series names a PromQL expression reads (not functions, labels, keywords)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # string literals
    text = re.sub(r"\{[^}]*\}", "", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", "", text)  # ranges and subqueries
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", text)
    names = re.findall(r"(?<![\w.$])([a-zA-Z_:][\w:]*)\b(?!\s*\()", text)
    return {n for n in names if n.lower() not in PROMQL_WORDS}


def test_metric_names_parses_promql() -> None:
    assert metric_names(
        'histogram_quantile(0.99, sum by (le, service) (rate(a_bucket{x=~"b|c"}[5m])))'
    ) == {"a_bucket"}
    assert metric_names(
        'deriv(sum by (g) (lag{g=~"h"})[15m:1m]) > 0 and sum(x_total) / clamp_min(y, 1e-9)'
    ) == {"lag", "x_total", "y"}


def dashboard_exprs() -> dict[str, str]:
    exprs: dict[str, str] = {}
    for path in sorted((ROOT / "compose/grafana/dashboards").glob("*.json")):

        def walk(node: Any, where: str) -> None:
            if isinstance(node, dict):
                if isinstance(node.get("expr"), str):
                    exprs[f"{where}: {node.get('refId', '?')}"] = node["expr"]
                for key, value in node.items():
                    walk(value, f"{where}/{node.get('title', key)}" if key == "targets" else where)
            elif isinstance(node, list):
                for item in node:
                    walk(item, where)

        walk(json.loads(path.read_text()), path.name)
    return exprs


def alert_exprs() -> dict[str, str]:
    rules = yaml.safe_load((ROOT / "deploy/monitoring/rules.yml").read_text())
    return {
        rule.get("alert") or rule["record"]: rule["expr"]
        for group in rules["groups"]
        for rule in group["rules"]
    }


def exposed_names(text: str) -> set[str]:
    """Every sample name the exposition has or would have (a labelled metric with no children
    yet is still declared by its HELP/TYPE lines)."""
    names: set[str] = set()
    for family in text_string_to_metric_families(text):
        names |= {family.name + suffix for suffix in SUFFIXES[family.type]}
        names |= {sample.name for sample in family.samples}
    return names


def start(name: str, args: list[str], env: dict[str, str], logdir: Path) -> ServiceProcess:
    port = free_port()
    ports = {
        f"SWITCHBOARD_{var}": str(port)
        for var in ("HTTP__PORT", "API__PORT", "HTTP__API_PORT", "HTTP__WORKER_PORT")
    }
    return ServiceProcess(
        name,
        args,
        {
            # INFO: start-up lines from uvicorn, Litestar, FastStream and aiokafka to check below.
            "SWITCHBOARD_LOG__LEVEL": "INFO",
            "SWITCHBOARD_HTTP__PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
            **ports,
            **env,
        },
        port,
        logdir,
        ready_timeout_s=READY_TIMEOUT_S,
    )


async def groups(kafka: KafkaSettings) -> dict[str, str]:
    return {
        service: await fresh_group(kafka, f"ops-metrics-{service}", KAFKA_TOPICS)
        for service in KAFKA_GROUPS
    }


async def drop_pg(pg: PostgresSettings, *names: str) -> None:
    await asyncio.to_thread(drop_database, pg, *names)


@pytest.fixture(scope="module")
def group(kafka_settings: KafkaSettings) -> dict[str, str]:
    """Each worker's consumer group, fresh for this module, and the dialer's command prefix."""
    return {**asyncio.run(groups(kafka_settings)), "commands": unique("ops-dialer-commands")}


@pytest.fixture(scope="module")
def running(
    tmp_path_factory: pytest.TempPathFactory,
    pg_settings: PostgresSettings,
    common_settings: CommonSettings,
    group: dict[str, str],
) -> Iterator[dict[str, ServiceProcess]]:
    logdir = tmp_path_factory.mktemp("metrics-logs")
    history_db, dialer_db, ai_db = unique("ops_history"), unique("ops_dialer"), unique("ops_ai")
    # An account (never called: no campaign runs) whose concurrency the dialer reports, on a
    # control.config of the test's own, as the control plane publishes it.
    account = TwilioAccount(
        id=DIALER_ACCOUNT,
        tenants=("ops",),
        auth_tokens=(SecretStr("ops-test-auth-token-0123"),),
        max_concurrent=DIALER_CAP,
    )
    control = seeded_config_env(common_settings.kafka, [account])
    history = {
        "SWITCHBOARD_DATABASE": history_db,
        "SWITCHBOARD_CONSUMER__GROUP_ID": group["history"],
        **control,
    }
    dialer = {
        "SWITCHBOARD_DATABASE": dialer_db,
        "SWITCHBOARD_CONSUMER__GROUP_ID": group["dialer"],
        "SWITCHBOARD_CONSUMER__COMMANDS_GROUP_PREFIX": group["commands"],
        "SWITCHBOARD_REDIS_PREFIX": unique("ops-dialer"),
        **control,
    }
    ai = {
        "SWITCHBOARD_MONGO__DATABASE": ai_db,
        "SWITCHBOARD_CONSUMER__GROUP_ID": group["ai"],
        "SWITCHBOARD_CRYPTO__KEYS": AI_KEY,
        "SWITCHBOARD_CRYPTO__CURRENT_KEY_ID": "ops-test",
        # Nothing reaches the model in this test; a closed local port rather than the internet.
        "SWITCHBOARD_OPENAI__BASE_URL": f"http://127.0.0.1:{free_port()}/v1",
    }
    spool = {
        "SWITCHBOARD_SPOOL__DIRECTORY": str(tmp_path_factory.mktemp("metrics-spool")),
        **config_env(config_settings()),  # an empty control.config of the test's own
    }
    services: dict[str, ServiceProcess] = {}
    try:
        # Workers first: they migrate their databases, which the APIs then open.
        for name, args, env in (
            ("ingress", ["switchboard.ingress", "serve"], spool),
            ("history-worker", ["switchboard.history", "worker"], history),
            ("dialer-worker", ["switchboard.dialer", "worker"], dialer),
            ("ai-worker", ["switchboard.ai", "worker"], ai),
            (
                "lag-exporter",
                ["switchboard.lagexporter", "serve"],
                {"SWITCHBOARD_LAG__GROUPS": json.dumps([group[s] for s in KAFKA_GROUPS])},
            ),
        ):
            services[name] = start(name, args, env, logdir)
        for service in services.values():
            service.wait_ready("/health")
        for name, args, env in (
            ("history-api", ["switchboard.history", "api"], history),
            ("dialer-api", ["switchboard.dialer", "api"], dialer),
            ("ai-api", ["switchboard.ai", "api"], ai),
        ):
            services[name] = start(name, args, env, logdir)
        for service in services.values():
            service.wait_ready("/health")
        yield services
    finally:
        for service in services.values():
            service.stop()
        asyncio.run(drop_pg(pg_settings, history_db, dialer_db))
        mongo_url = common_settings.mongo.url.get_secret_value()
        client: MongoClient[dict[str, Any]] = MongoClient(mongo_url)
        client.drop_database(ai_db)
        client.close()


def test_every_dashboard_and_alert_metric_is_exported(running: dict[str, ServiceProcess]) -> None:
    exposed: dict[str, set[str]] = {}
    for name, service in running.items():
        response = httpx.get(service.url + "/metrics", timeout=10)
        assert response.status_code == 200, name
        exposed[name] = exposed_names(response.text)
    everything = set().union(*exposed.values())

    queries = {**{f"dashboard {k}": v for k, v in dashboard_exprs().items()},
               **{f"alert {k}": v for k, v in alert_exprs().items()}}  # fmt: skip
    assert len(queries) >= 20
    missing = {}
    used: set[str] = set()
    for where, expr in queries.items():
        names = metric_names(expr)
        assert names, (where, expr)
        used |= names
        absent = {n for n in names if n not in everything and n not in EXTERNAL}
        if absent:
            missing[where] = sorted(absent)
    assert not missing, f"queried but exported by no running service: {missing}"
    # The allowlist holds nothing stale, and names nothing a service exports itself.
    assert set(EXTERNAL) <= used
    assert not set(EXTERNAL) & everything
    # Each service family the queries use shows up in the process Prometheus labels with it.
    by_prefix = {
        "switchboard_ingress_": {"ingress"},
        "switchboard_history_": {"history-worker"},
        "switchboard_dialer_": {"dialer-worker"},
        "switchboard_ai_": {"ai-worker"},
        "kafka_consumergroup_": {"lag-exporter"},
    }
    for name in sorted(used - set(EXTERNAL)):
        for prefix, processes in by_prefix.items():
            if name.startswith(prefix):
                assert any(name in exposed[p] for p in processes), (name, processes)


async def test_the_dialer_worker_reports_each_accounts_calls_in_flight_and_cap(
    running: dict[str, ServiceProcess],
) -> None:
    """The series behind the "in-flight vs cap" panel are set by the recovery loop (every
    ``worker.recovery_interval_s``), not only declared."""
    account = (("account", DIALER_ACCOUNT),)

    def samples() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        text = httpx.get(running["dialer-worker"].url + "/metrics", timeout=10).text
        return {
            (sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        }

    await eventually(
        lambda: samples().get(("switchboard_dialer_max_concurrent_calls", account)) == DIALER_CAP,
        timeout_s=60,
    )
    assert samples()[("switchboard_dialer_in_flight_calls", account)] == 0


def test_the_check_notices_a_metric_nobody_exports(running: dict[str, ServiceProcess]) -> None:
    text = httpx.get(running["ingress"].url + "/metrics", timeout=10).text
    names = exposed_names(text)
    assert "switchboard_ingress_webhooks_total" in names
    assert "switchboard_http_request_seconds_bucket" in names
    assert (
        "switchboard_ingress_webhooks" not in names or "switchboard_ingress_webhooks_total" in names
    )
    assert not metric_names("rate(switchboard_ingress_webhook_total[5m])") <= names


def test_every_log_line_is_json(running: dict[str, ServiceProcess]) -> None:
    """uvicorn, Litestar, FastStream and aiokafka lines too (one structlog handler for all)."""
    loggers: set[str] = set()
    for name, service in running.items():
        lines = service.log_path.read_text().splitlines()
        assert lines, name
        for line in lines:
            try:
                record = json.loads(line)
            except ValueError:
                raise AssertionError(f"{name}: not a JSON line: {line[:300]!r}") from None
            assert {"event", "level", "timestamp", "service"} <= record.keys(), (name, record)
            loggers.add(str(record.get("logger", "")))
    assert {"uvicorn.error", "faststream.kafka"} <= loggers, loggers


def served_asyncapi(service: ServiceProcess, group: dict[str, str]) -> Any:
    """The document ``service`` serves, its consumer groups renamed from this module's fresh ones
    to the defaults (what ``make up`` runs, and so what docs/asyncapi holds)."""
    response = httpx.get(service.url + "/asyncapi.yaml", timeout=10)
    assert response.status_code == 200, (service.name, response.text[:500])
    assert response.headers["content-type"].startswith("application/yaml")
    doc = yaml.safe_load(response.text)
    defaults = {group[g]: g for g in KAFKA_GROUPS}
    defaults[f"{group['commands']}-<worker id>"] = f"{DIALER_COMMANDS_PREFIX}-<worker id>"
    for operation in doc.get("operations", {}).values():
        group_id = operation.get("bindings", {}).get("kafka", {}).get("groupId")
        if group_id is not None:
            group_id["const"] = defaults.get(group_id["const"], group_id["const"])
    return doc


def asyncapi_validator() -> Any:
    """A validator for the AsyncAPI 3.0.0 JSON Schema (fetched from npm once, into .local/)."""
    import subprocess
    import sys

    from jsonschema import Draft7Validator
    from referencing import Registry
    from referencing.jsonschema import DRAFT7

    path = subprocess.run(
        [sys.executable, str(ROOT / "scripts/asyncapi.py"), "schema"],
        check=True,
        capture_output=True,
        text=True,
        timeout=600,
    ).stdout.strip()
    schema = json.loads(Path(path).read_text())
    registry: Registry[Any] = Registry().with_resources(
        (d.get("$id", k), DRAFT7.create_resource(d)) for k, d in schema["definitions"].items()
    )
    return Draft7Validator(schema, registry=registry)


def test_committed_asyncapi_documents_are_what_the_services_serve(
    running: dict[str, ServiceProcess], group: dict[str, str]
) -> None:
    validator = asyncapi_validator()
    assert list(validator.iter_errors({"asyncapi": "3.0.0", "info": {}})), "validator accepts all"
    committed_dir = ROOT / "docs/asyncapi"
    assert sorted(p.stem for p in committed_dir.glob("*.yaml")) == sorted(ASYNCAPI)
    for document, process in ASYNCAPI.items():
        served = served_asyncapi(running[process], group)
        errors = [f"{list(e.path)}: {e.message[:200]}" for e in validator.iter_errors(served)]
        assert not errors, (document, errors[:5])
        committed = yaml.safe_load((committed_dir / f"{document}.yaml").read_text())
        assert committed == served, (
            f"docs/asyncapi/{document}.yaml is stale: `make asyncapi` writes what the running "
            "services serve"
        )
    # What the documents say matches what the workers subscribe to.
    history = yaml.safe_load((committed_dir / "history.yaml").read_text())
    received = {
        op["channel"]["$ref"].rsplit("/", 1)[1]
        for op in history["operations"].values()
        if op["action"] == "receive"
    }
    assert {"call_events", "message_inbound", "message_status", "message_outbound"} <= received


def test_worker_ports_serve_no_empty_openapi_document(running: dict[str, ServiceProcess]) -> None:
    """A worker has no HTTP API: its port answers no (empty) OpenAPI document; the AsyncAPI one
    describes it."""
    for name in ("history-worker", "dialer-worker", "ai-worker"):
        url = running[name].url
        assert httpx.get(url + "/schema/openapi.json", timeout=10).status_code == 404, name
        assert httpx.get(url + "/asyncapi.json", timeout=10).status_code == 200, name
