"""A lost broker fires SwitchboardKafkaUnderReplicated through the lag exporter, and it resolves.

A three-broker cluster of the test's own (``common.localkafka``, RF 3 / min ISR 2), the lag
exporter on it, and the Prometheus + Alertmanager of conftest (1 s scrapes, durations / 60):
killing one broker leaves partitions with two in-sync replicas of three; started again, it
catches up and the alert resolves.
"""

import asyncio
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from switchboard.common.kafka import ensure_topics
from switchboard.common.localkafka import LocalKafka
from switchboard.common.testing import ServiceProcess, free_port, unique

pytestmark = [pytest.mark.integration, pytest.mark.e2e, pytest.mark.timeout(900)]
ROOT = Path(__file__).resolve().parents[2]


def wait_until(check: Callable[[], object], what: str, timeout_s: float = 300.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, f"not within {timeout_s:.0f}s: {what}"
        time.sleep(1)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalKafka]:
    kafka = LocalKafka(ROOT, tmp_path_factory.mktemp("cluster"), brokers=3)
    kafka.start()
    try:
        yield kafka
    finally:
        kafka.destroy()


@pytest.fixture(scope="module")
def exporter(
    cluster: LocalKafka, monitoring: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServiceProcess]:
    asyncio.run(ensure_topics(cluster.settings(), [unique("replicated")]))
    port = free_port()
    process = ServiceProcess(
        "lag-exporter",
        ["switchboard.lagexporter", "serve"],
        {
            "SWITCHBOARD_KAFKA__BOOTSTRAP_SERVERS": cluster.bootstrap,
            "SWITCHBOARD_HTTP__PORT": str(port),
            "SWITCHBOARD_LAG__GROUPS": json.dumps([unique("nobody")]),
            "SWITCHBOARD_LAG__POLL_INTERVAL_S": "1",
        },
        port,
        tmp_path_factory.mktemp("cluster-logs"),
    )
    try:
        process.wait_ready("/ready")
        monitoring.set_targets({"lag-exporter": (port, "lag-exporter", "serve")})
        yield process
    finally:
        process.stop()


def test_a_killed_broker_fires_under_replicated_and_it_resolves(
    cluster: LocalKafka, exporter: ServiceProcess, monitoring: Any
) -> None:
    under = "sum(kafka_topic_partition_under_replicated_partition)"
    wait_until(lambda: monitoring.query(under), "Prometheus has the exporter's replication")
    assert float(monitoring.query(under)[0]["value"][1]) == 0
    cluster.kill(3)
    try:
        wait_until(
            lambda: monitoring.notifications.of("SwitchboardKafkaUnderReplicated", "firing"),
            f"SwitchboardKafkaUnderReplicated notified (firing: {sorted(monitoring.firing())})",
        )
        assert float(monitoring.query("max(kafka_brokers)")[0]["value"][1]) == 2
    finally:
        cluster.start(3)
    wait_until(
        lambda: monitoring.notifications.of("SwitchboardKafkaUnderReplicated", "resolved"),
        "SwitchboardKafkaUnderReplicated notified resolved",
    )
