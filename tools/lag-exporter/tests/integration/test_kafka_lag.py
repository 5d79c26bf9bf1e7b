"""The exporter against the real Kafka: a group's committed offsets against the topic's end."""

import asyncio

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from litestar.testing import AsyncTestClient
from prometheus_client import CollectorRegistry

from switchboard.common.kafka import ensure_topics
from switchboard.common.settings import KafkaSettings
from switchboard.common.testing import eventually, free_port, unique
from switchboard.lagexporter.app import create_app
from switchboard.lagexporter.settings import LagExporterSettings, LagSettings

pytestmark = pytest.mark.integration


async def commit(kafka: KafkaSettings, group: str, tp: TopicPartition, offset: int) -> None:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=kafka.bootstrap_servers, group_id=group, enable_auto_commit=False
    )
    await consumer.start()
    try:
        consumer.assign([tp])
        await consumer.commit({tp: offset})
    finally:
        await consumer.stop()


async def test_lag_of_a_group_is_read_from_the_broker(kafka_settings: KafkaSettings) -> None:
    topic, group = unique("lag-test"), unique("lag-group")
    await ensure_topics(kafka_settings, [topic])
    producer = AIOKafkaProducer(bootstrap_servers=kafka_settings.bootstrap_servers)
    await producer.start()
    try:
        for i in range(10):
            await producer.send_and_wait(topic, b"x%d" % i, partition=0)
    finally:
        await producer.stop()
    await commit(kafka_settings, group, TopicPartition(topic, 0), 4)
    settings = LagExporterSettings(
        kafka=kafka_settings,
        lag=LagSettings(groups=[group, unique("no-such-group")], poll_interval_s=0.2),
    )
    series = f'kafka_consumergroup_lag{{consumergroup="{group}",partition="0",topic="{topic}"}}'
    async with AsyncTestClient(create_app(settings, registry=CollectorRegistry())) as client:

        async def lag_is(value: float) -> bool:
            return f"{series} {value}" in (await client.get("/metrics")).text

        await eventually(lambda: lag_is(6.0), timeout_s=60)
        assert (await client.get("/ready")).status_code == 200
        metrics = (await client.get("/metrics")).text
        replicated = (
            f'kafka_topic_partition_under_replicated_partition{{partition="0",topic="{topic}"}}'
        )
        assert f"{replicated} 0.0" in metrics  # one broker: its own replica is in sync
        assert "kafka_brokers 1.0" in metrics
        await commit(kafka_settings, group, TopicPartition(topic, 0), 10)
        await eventually(lambda: lag_is(0.0), timeout_s=60)


async def test_without_kafka_it_runs_and_is_not_ready() -> None:
    nowhere = KafkaSettings(bootstrap_servers=f"127.0.0.1:{free_port()}", request_timeout_ms=2000)
    settings = LagExporterSettings(kafka=nowhere, lag=LagSettings(poll_interval_s=0.2))
    async with AsyncTestClient(create_app(settings, registry=CollectorRegistry())) as client:
        await asyncio.sleep(1.0)
        response = await client.get("/ready")
        assert response.status_code == 503
        assert response.json()["checks"] == {"kafka": False, "loop:poll": True}
        assert (await client.get("/health")).status_code == 200
        metrics = (await client.get("/metrics")).text
        assert 'switchboard_lag_exporter_polls_total{result="kafka_unavailable"}' in metrics
        assert "kafka_consumergroup_lag{" not in metrics
