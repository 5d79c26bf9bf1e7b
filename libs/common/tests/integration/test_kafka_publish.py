"""The broker factory and publish helper against the real Kafka."""

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from switchboard.common.errors import PublishError
from switchboard.common.events import (
    CallStatus,
    CallStatusChanged,
    Event,
    KafkaRecord,
    decode,
    encode,
    event_id,
)
from switchboard.common.kafka import (
    create_broker,
    create_producer,
    ensure_topics,
    publish_record,
    record_size,
    send_records,
)
from switchboard.common.settings import KafkaSettings
from switchboard.common.testing import end_offsets, read_records, unique

pytestmark = pytest.mark.integration


def call_event(n: int) -> Event:
    from datetime import UTC, datetime

    data = CallStatusChanged(
        provider="twilio",
        call_id=f"CA{n}",
        status=CallStatus.COMPLETED,
        occurred_at=datetime.now(UTC),
    )
    return Event(id=event_id("t", n), source="/test", data=data, subject=f"CA{n}")


async def test_ensure_topics_is_idempotent(kafka_settings: KafkaSettings) -> None:
    topic = unique("t.ensure")
    await ensure_topics(kafka_settings, [topic], partitions=3)
    await ensure_topics(kafka_settings, [topic], partitions=3)
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_settings.bootstrap_servers)
    await admin.start()
    try:
        described = await admin.describe_topics([topic])
        assert len(described[0]["partitions"]) == 3
    finally:
        await admin.close()


async def test_published_records_are_acked_and_read_back_with_headers(
    kafka_settings: KafkaSettings,
) -> None:
    topic = unique("t.publish")
    await ensure_topics(kafka_settings, [topic], partitions=2)
    start = await end_offsets(kafka_settings, topic)
    broker = create_broker(kafka_settings)
    await broker.connect()
    try:
        for n in range(5):
            await publish_record(broker, topic, encode(call_event(n), f"CA{n}"), timeout_s=10)
    finally:
        await broker.stop()
    records = await read_records(kafka_settings, topic, start, until=lambda r: len(r) >= 5)
    assert sorted(decode(r.headers, r.value).data.call_id for r in records) == [  # type: ignore[attr-defined]
        f"CA{n}" for n in range(5)
    ]
    assert {r.key for r in records} == {f"CA{n}".encode() for n in range(5)}


async def test_publish_to_unreachable_broker_raises_publish_error() -> None:
    dead = KafkaSettings(bootstrap_servers="127.0.0.1:1", request_timeout_ms=1000)
    broker = create_broker(dead)
    with pytest.raises(PublishError):
        await publish_record(broker, "x", encode(call_event(1), "CA1"), timeout_s=1)


async def test_producers_refuse_records_over_max_record_bytes_and_take_those_at_it(
    kafka_settings: KafkaSettings,
) -> None:
    """``max_record_bytes`` is the producers' ``max_request_size``, and ``record_size`` is the
    size they compare with it: a record of exactly the limit is published, one byte more is
    refused before it is sent (by the bare producer and by the FastStream broker)."""
    limit = 50_000
    settings = kafka_settings.model_copy(update={"max_record_bytes": limit})
    topic = unique("t.limit")
    await ensure_topics(settings, [topic], partitions=1)
    headers = {"ce_id": b"x" * 36}
    n = limit - record_size(b"key", b"", headers)
    while record_size(b"key", b"v" * n, headers) > limit:  # the length prefix is a varint
        n -= 1
    at_limit = KafkaRecord(b"key", b"v" * n, headers)
    assert record_size(at_limit.key, at_limit.value, headers) == limit
    over = KafkaRecord(b"key", at_limit.value + b"v", headers)
    producer = create_producer(settings)
    await producer.start()
    try:
        await send_records(producer, [(topic, at_limit)], timeout_s=10)
        with pytest.raises(PublishError, match="MessageSizeTooLarge"):
            await send_records(producer, [(topic, over)], timeout_s=10)
    finally:
        await producer.stop()
    # FastStream adds headers of its own (content type, correlation id): ~70 bytes.
    below = KafkaRecord(b"key", b"v" * (n - 200), headers)
    broker = create_broker(settings)
    await broker.connect()
    try:
        await publish_record(broker, topic, below, timeout_s=10)
        with pytest.raises(PublishError, match="MessageSizeTooLarge"):
            await publish_record(broker, topic, over, timeout_s=10)
    finally:
        await broker.stop()
