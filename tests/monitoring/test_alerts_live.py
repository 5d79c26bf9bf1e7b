"""Every fault fires its alert on real processes, Alertmanager notifies it, and it resolves.

A Kafka of the test's own, the real ingress, history worker and lag exporter (processes on free
ports, their own database and consumer group), Prometheus and Alertmanager started by
scripts/infra (Prometheus scraping every second and evaluating the rules file with every duration
divided by 60, see conftest), and a webhook receiver that records Alertmanager's notifications.
Each test causes a fault, waits for the firing notification, undoes the fault and waits for the
resolution; the tests run in this order and each leaves the stack healthy.
"""

import asyncio
import json
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from pydantic import SecretStr

from switchboard.common.config import Channel, TwilioAccount
from switchboard.common.localkafka import LocalKafka
from switchboard.common.migrations import drop_database
from switchboard.common.settings import KafkaSettings, PostgresSettings
from switchboard.common.testing import (
    ServiceProcess,
    end_offsets,
    free_port,
    fresh_group,
    read_records,
    seeded_config_env,
    twilio_signature,
    unique,
)
from switchboard.common.topics import CALL_EVENTS, MESSAGE_INBOUND, MESSAGE_OUTBOUND, MESSAGE_STATUS

# Each fault takes up to a few minutes on a loaded machine (generous waits, no timing asserts).
pytestmark = [pytest.mark.integration, pytest.mark.e2e, pytest.mark.timeout(900)]

ACCOUNT = "AC" + "a1e47".ljust(32, "0")
TOKEN = "alerts-test-token"
PATH = "/webhooks/twilio/voice/status"
HISTORY_TOPICS = (CALL_EVENTS, MESSAGE_INBOUND, MESSAGE_STATUS, MESSAGE_OUTBOUND)
SPOOL_LIMIT = 1050  # SwitchboardIngressSpoolBacklog: more than 1000 spooled
LAG_EVENTS = 10_500  # SwitchboardConsumerLagHigh: more than 10,000 behind
FIRE_TIMEOUT_S = 240.0
RESOLVE_TIMEOUT_S = 300.0


Monitoring = Any  # conftest.Monitoring (a conftest is not importable)


def wait_until(
    check: Callable[[], object], what: str, timeout_s: float = 180.0, interval_s: float = 1.0
) -> None:
    """Poll ``check()`` until truthy; AssertionError naming ``what`` otherwise."""
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout_s:.0f}s: {what}")
        time.sleep(interval_s)


@dataclass
class Stack:
    kafka: LocalKafka
    monitoring: Monitoring
    ingress: ServiceProcess
    history: ServiceProcess
    lag_exporter: ServiceProcess
    history_env: dict[str, str]
    spool: Path
    group: str
    logdir: Path

    def restart_history(self) -> None:
        self.history = ServiceProcess(
            f"history-{uuid.uuid4().hex[:6]}",
            ["switchboard.history", "worker"],
            self.history_env,
            self.history.port,
            self.logdir,
        )
        self.history.wait_ready("/health")


def service(name: str, args: list[str], env: dict[str, str], logdir: Path) -> ServiceProcess:
    port = free_port()
    env = {
        "SWITCHBOARD_LOG__LEVEL": "INFO",
        "SWITCHBOARD_HTTP__PORT": str(port),
        "SWITCHBOARD_HTTP__PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        **env,
    }
    return ServiceProcess(name, args, env, port, logdir)


@pytest.fixture(scope="module")
def stack(
    own_kafka: LocalKafka,
    monitoring: Monitoring,
    tmp_path_factory: pytest.TempPathFactory,
    pg_settings: PostgresSettings,
) -> Iterator[Stack]:
    logdir = tmp_path_factory.mktemp("alert-logs")
    spool = tmp_path_factory.mktemp("alert-spool")
    kafka = {"SWITCHBOARD_KAFKA__BOOTSTRAP_SERVERS": own_kafka.bootstrap}
    group = asyncio.run(fresh_group(own_kafka.settings(), "alerts-history", HISTORY_TOPICS))
    database = unique("alerts_history")
    # The tenant's account and numbers, as the control plane would publish them: the ingress
    # verifies with them, history's reconciler looks calls up with them.
    config = seeded_config_env(
        own_kafka.settings(),
        [
            TwilioAccount(id=ACCOUNT, tenants=("alerts",), auth_tokens=(SecretStr(TOKEN),)),
            *(
                Channel(kind="phone", id=n, tenant="alerts", account_id=ACCOUNT)
                for n in ("+15005550006", "+14155550100")
            ),
        ],
    )
    history_env = {
        **kafka,
        **config,
        "SWITCHBOARD_DATABASE": database,
        "SWITCHBOARD_CONSUMER__GROUP_ID": group,
    }
    processes: list[ServiceProcess] = []
    try:
        ingress = service(
            "ingress",
            ["switchboard.ingress", "serve"],
            {
                **kafka,
                **config,
                "SWITCHBOARD_SPOOL__DIRECTORY": str(spool),
                "SWITCHBOARD_SPOOL__MAX_EVENTS": str(SPOOL_LIMIT),
                "SWITCHBOARD_SPOOL__DRAIN_RETRY_S": "0.2",
            },
            logdir,
        )
        processes.append(ingress)
        history = service("history", ["switchboard.history", "worker"], history_env, logdir)
        processes.append(history)
        history_env["SWITCHBOARD_HTTP__PORT"] = str(history.port)
        lag_exporter = service(
            "lag-exporter",
            ["switchboard.lagexporter", "serve"],
            {
                **kafka,
                "SWITCHBOARD_LAG__GROUPS": json.dumps([group]),
                "SWITCHBOARD_LAG__POLL_INTERVAL_S": "1",
                "SWITCHBOARD_LAG__STALE_AFTER_S": "10",
            },
            logdir,
        )
        processes.append(lag_exporter)
        for process in processes:
            process.wait_ready("/health")
        stack = Stack(
            own_kafka, monitoring, ingress, history, lag_exporter, history_env, spool, group, logdir
        )
        monitoring.set_targets(
            {
                "ingress": (ingress.port, "ingress", "serve"),
                "history": (history.port, "history", "worker"),
                "lag-exporter": (lag_exporter.port, "lag-exporter", "serve"),
            }
        )
        wait_until(
            lambda: (
                set(monitoring.targets_up().values()) == {"up"}
                and len(monitoring.targets_up()) == 3
            ),
            "Prometheus scrapes the three processes",
        )
        yield stack
        processes[1] = stack.history
    finally:
        for process in processes:
            process.stop()
        asyncio.run(asyncio.to_thread(drop_database, pg_settings, database))


def fired_and_resolved(
    monitoring: Monitoring, alertname: str, timeout_s: float = RESOLVE_TIMEOUT_S, **labels: str
) -> None:
    wait_until(
        lambda: monitoring.notifications.of(alertname, "resolved", **labels),
        f"Alertmanager notifies {alertname} {labels} resolved "
        f"(firing in Prometheus: {monitoring.firing().get(alertname)})",
        timeout_s,
    )


def fires(monitoring: Monitoring, alertname: str, **labels: str) -> None:
    wait_until(
        lambda: monitoring.notifications.of(alertname, "firing", **labels),
        f"Alertmanager notifies {alertname} {labels} firing "
        f"(Prometheus has firing: {sorted(monitoring.firing())})",
        FIRE_TIMEOUT_S,
    )


# --------------------------------------------------------------------------- the faults


def test_the_rules_are_compressed_from_the_one_file(compress_rules: Any) -> None:
    text = (
        "groups:\n- name: g\n  rules:\n  - alert: A\n    for: 10m\n"
        "    expr: deriv(sum(x)[15m:1m]) > 0 and rate(y[5m]) > 0\n"
        "  - alert: B\n    for: 0m\n    expr: increase(z[1h]) > 0\n"
    )
    rules = compress_rules(text)
    assert "for: 10s" in rules and "for: 0s" in rules
    assert "deriv(sum(x)[15s:1s]) > 0 and rate(y[5s]) > 0" in rules
    assert "increase(z[60s]) > 0" in rules


def test_a_dead_letter_fires_dead_letters(stack: Stack) -> None:
    async def poison() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=stack.kafka.bootstrap)
        await producer.start()
        try:
            # A known event type whose data cannot be read: dead-lettered at once.
            headers = [("ce_type", b"switchboard.call.status.v1"), ("ce_id", b"poison")]
            await producer.send_and_wait(CALL_EVENTS, b"{not json", key=b"poison", headers=headers)
        finally:
            await producer.stop()

    asyncio.run(poison())
    fires(stack.monitoring, "SwitchboardDeadLetters", topic=CALL_EVENTS)
    # Nothing more is dead-lettered: the increase leaves the window and the alert resolves.
    fired_and_resolved(stack.monitoring, "SwitchboardDeadLetters", topic=CALL_EVENTS)


def test_a_failing_background_loop_fires_loop_restarts(stack: Stack) -> None:
    """The spool drainer's table goes missing (a damaged spool file): every pass raises, the
    supervisor restarts the loop with backoff and /ready reports it; the table back, it runs."""
    [spool_file] = stack.spool.glob("spool-*.db")
    db = sqlite3.connect(spool_file, isolation_level=None)
    db.execute("ALTER TABLE spool RENAME TO spool_damaged")
    try:
        fires(stack.monitoring, "SwitchboardLoopRestarts", loop="spool-drainer")

        def degraded() -> bool:
            ready = httpx.get(stack.ingress.url + "/ready", timeout=10).json()
            return ready["status"] == "degraded" and ready["checks"]["loop:spool-drainer"] is False

        wait_until(degraded, "the ingress's /ready names the drainer", interval_s=0.2)
    finally:
        db.execute("ALTER TABLE spool_damaged RENAME TO spool")
        db.close()
    fired_and_resolved(stack.monitoring, "SwitchboardLoopRestarts", loop="spool-drainer")
    assert httpx.get(stack.ingress.url + "/ready", timeout=10).json()["status"] == "ready"


def signed(url: str, n: int) -> tuple[bytes, dict[str, str]]:
    params = {
        "AccountSid": ACCOUNT,
        "CallSid": "CA" + uuid.uuid4().hex,
        "CallStatus": "ringing",
        "SequenceNumber": str(n),
        "From": "+15005550006",
        "To": "+14155550100",
        "Direction": "outbound-api",
        "Timestamp": "Mon, 23 Nov 2026 13:00:00 +0000",
    }
    headers = {
        "content-type": "application/x-www-form-urlencoded",
        "x-twilio-signature": twilio_signature(url, params, TOKEN),
    }
    return urlencode(params).encode(), headers


async def post_webhooks(url: str, count: int, concurrency: int = 16) -> dict[int, int]:
    statuses: dict[int, int] = {}
    queue = iter(range(count))
    async with httpx.AsyncClient(timeout=60) as client:

        async def worker() -> None:
            for n in queue:
                body, headers = signed(url, n)
                status = (await client.post(url, content=body, headers=headers)).status_code
                statuses[status] = statuses.get(status, 0) + 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return statuses


def test_kafka_down_fires_spool_backlog_and_a_full_spool_fires_server_errors(stack: Stack) -> None:
    monitoring, url = stack.monitoring, stack.ingress.url + PATH
    stack.kafka.stop()
    try:
        statuses = asyncio.run(post_webhooks(url, SPOOL_LIMIT + 50))
        # Every event up to the spool's limit accepted durably; past it, 503 (providers retry).
        assert statuses == {204: SPOOL_LIMIT, 503: 50}, statuses
        fires(monitoring, "SwitchboardIngressSpoolBacklog")

        # 503s keep coming while the spool is full, until the 5xx ratio alert is notified.
        def server_errors_notified() -> bool:
            asyncio.run(post_webhooks(url, 5, concurrency=1))
            return bool(monitoring.notifications.of("SwitchboardWebhookServerErrors", "firing"))

        wait_until(server_errors_notified, "SwitchboardWebhookServerErrors firing", FIRE_TIMEOUT_S)
    finally:
        stack.kafka.start()
    fired_and_resolved(monitoring, "SwitchboardIngressSpoolBacklog")
    fired_and_resolved(monitoring, "SwitchboardWebhookServerErrors")


async def flood(kafka: KafkaSettings, count: int) -> None:
    """``count`` distinct copies (new event ids) of a real call event the ingress published."""
    start = {p: max(o - 1, 0) for p, o in (await end_offsets(kafka, CALL_EVENTS)).items() if o}
    [template, *_] = await read_records(kafka, CALL_EVENTS, start, until=lambda r: bool(r))
    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap_servers, linger_ms=20)
    await producer.start()
    try:
        sends = []
        for _ in range(count):
            headers = [
                (k, str(uuid.uuid4()).encode() if k == "ce_id" else v) for k, v in template.headers
            ]
            sends.append(
                await producer.send(CALL_EVENTS, template.value, key=template.key, headers=headers)
            )
        await asyncio.gather(*sends)
    finally:
        await producer.stop()


def test_a_stopped_consumer_fires_lag_high_and_target_down(stack: Stack) -> None:
    monitoring = stack.monitoring
    stack.history.stop()
    try:
        asyncio.run(flood(stack.kafka.settings(), LAG_EVENTS))
        fires(monitoring, "SwitchboardConsumerLagHigh", consumergroup=stack.group)
        fires(monitoring, "SwitchboardTargetDown", service="history")
    finally:
        stack.restart_history()
    fired_and_resolved(monitoring, "SwitchboardTargetDown", service="history")
    fired_and_resolved(monitoring, "SwitchboardConsumerLagHigh", consumergroup=stack.group)


def test_after_recovery_nothing_fires_and_every_notified_alert_resolved(stack: Stack) -> None:
    monitoring = stack.monitoring
    wait_until(lambda: not monitoring.firing(), "no alert firing", RESOLVE_TIMEOUT_S)
    fired = monitoring.notifications.names("firing")
    assert {
        "SwitchboardDeadLetters",
        "SwitchboardLoopRestarts",
        "SwitchboardIngressSpoolBacklog",
        "SwitchboardWebhookServerErrors",
        "SwitchboardConsumerLagHigh",
        "SwitchboardTargetDown",
    } <= fired
    wait_until(
        lambda: monitoring.notifications.names("resolved") >= fired,
        f"every alert notified firing is notified resolved: {fired}",
        RESOLVE_TIMEOUT_S,
    )
