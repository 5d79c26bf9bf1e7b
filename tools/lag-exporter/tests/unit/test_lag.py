"""Lag arithmetic, the collector's series and the poller, over a fake offsets source."""

import asyncio
from collections.abc import Iterable, Mapping

from aiokafka import TopicPartition
from litestar.testing import AsyncTestClient
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from switchboard.lagexporter.app import create_app
from switchboard.lagexporter.collector import LagCollector, Measurement
from switchboard.lagexporter.offsets import (
    Cluster,
    OffsetsUnavailable,
    PartitionLag,
    PartitionReplicas,
    measure,
)
from switchboard.lagexporter.poller import Poller
from switchboard.lagexporter.settings import LagExporterSettings, LagSettings

CALLS_0, CALLS_1 = TopicPartition("call.events", 0), TopicPartition("call.events", 1)
INBOUND_0 = TopicPartition("message.inbound", 0)


class FakeOffsets:
    def __init__(self) -> None:
        self.commits: dict[str, dict[TopicPartition, int]] = {}
        self.end: dict[TopicPartition, int] = {}
        self.replication = Cluster(3, [PartitionReplicas("call.events", 0, 3, 3)])
        self.down = False

    async def committed(self, group: str) -> Mapping[TopicPartition, int]:
        if self.down:
            raise OffsetsUnavailable("down")
        return self.commits.get(group, {})

    async def ends(self, partitions: Iterable[TopicPartition]) -> Mapping[TopicPartition, int]:
        if self.down:
            raise OffsetsUnavailable("down")
        return {tp: self.end[tp] for tp in partitions}

    async def cluster(self) -> Cluster:
        if self.down:
            raise OffsetsUnavailable("down")
        return self.replication


def samples(registry: CollectorRegistry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = generate_latest(registry).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def lag_key(group: str, topic: str, partition: int) -> tuple[str, tuple[tuple[str, str], ...]]:
    labels = {"consumergroup": group, "topic": topic, "partition": str(partition)}
    return "kafka_consumergroup_lag", tuple(sorted(labels.items()))


async def test_lag_is_end_minus_committed_for_each_partition_a_group_committed() -> None:
    source = FakeOffsets()
    source.commits = {"history": {CALLS_0: 10, CALLS_1: 7}, "ai": {INBOUND_0: 5}}
    source.end = {CALLS_0: 25, CALLS_1: 7, INBOUND_0: 4}
    lags = await measure(source, ["history", "ai", "dialer"])
    assert [(p.group, p.topic, p.partition, p.lag) for p in lags] == [
        ("history", "call.events", 0, 15),
        ("history", "call.events", 1, 0),
        ("ai", "message.inbound", 0, 0),  # committed past the end: no backlog
    ]


def test_the_collector_uses_kafka_exporters_names_and_drops_a_stale_measurement() -> None:
    now = [100.0]
    measurement = Measurement(stale_after_s=30, clock=lambda: now[0])
    registry = CollectorRegistry()
    registry.register(LagCollector(measurement))
    assert not any(name == "kafka_consumergroup_lag" for name, _ in samples(registry))
    measurement.update(
        [
            PartitionLag("history", "call.events", 0, 10, 25),
            PartitionLag("dialer", "call.events", 0, 20, 25),
        ],
        Cluster(
            2,
            [PartitionReplicas("call.events", 0, 3, 2), PartitionReplicas("call.events", 1, 3, 3)],
        ),
    )
    got = samples(registry)
    assert got[lag_key("history", "call.events", 0)] == 15
    assert got[lag_key("dialer", "call.events", 0)] == 5
    offset = (
        "kafka_topic_partition_current_offset",
        (("partition", "0"), ("topic", "call.events")),
    )
    assert got[offset] == 25
    assert got[("kafka_brokers", ())] == 2
    under = "kafka_topic_partition_under_replicated_partition"
    assert got[(under, (("partition", "0"), ("topic", "call.events")))] == 1
    assert got[(under, (("partition", "1"), ("topic", "call.events")))] == 0
    now[0] += 31
    stale = samples(registry)
    assert lag_key("history", "call.events", 0) not in stale
    assert ("kafka_brokers", ()) not in stale


async def test_the_poller_keeps_the_last_measurement_through_a_failed_poll() -> None:
    source = FakeOffsets()
    source.commits = {"history": {CALLS_0: 1}}
    source.end = {CALLS_0: 4}
    registry = CollectorRegistry()
    measurement = Measurement(stale_after_s=60)
    registry.register(LagCollector(measurement))
    poller = Poller(source, ["history"], measurement, 1.0, registry)
    assert await poller.poll_once()
    source.down = True
    assert not await poller.poll_once()
    got = samples(registry)
    assert got[lag_key("history", "call.events", 0)] == 3
    assert got[("switchboard_lag_exporter_polls_total", (("result", "ok"),))] == 1
    assert got[("switchboard_lag_exporter_polls_total", (("result", "kafka_unavailable"),))] == 1


async def test_ready_only_with_a_fresh_measurement() -> None:
    source = FakeOffsets()
    source.down = True
    settings = LagExporterSettings(lag=LagSettings(groups=["history"], poll_interval_s=0.05))
    app = create_app(settings, source=source, registry=CollectorRegistry())
    async with AsyncTestClient(app) as client:
        response = await client.get("/ready")
        assert response.status_code == 503
        assert response.json()["checks"]["kafka"] is False
        source.down = False
        source.commits = {"history": {CALLS_0: 2}}
        source.end = {CALLS_0: 9}
        for _ in range(100):
            if (await client.get("/ready")).status_code == 200:
                break
            await asyncio.sleep(0.05)
        assert (await client.get("/ready")).status_code == 200
        metrics = (await client.get("/metrics")).text
        lag = 'kafka_consumergroup_lag{consumergroup="history",partition="0",topic="call.events"}'
        assert f"{lag} 7.0" in metrics
