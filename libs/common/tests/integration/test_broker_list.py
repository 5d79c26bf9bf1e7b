"""Every Kafka client libs/common builds takes the broker list of
SWITCHBOARD_KAFKA__BOOTSTRAP_SERVERS and connects while a broker of it is down (here: a port
nothing listens on, named first)."""

from datetime import UTC, datetime

import pytest

from switchboard.common.events import CallStatus, CallStatusChanged, Event, encode, event_id
from switchboard.common.kafka import (
    create_broker,
    create_producer,
    ensure_topics,
    publish_record,
    send_records,
)
from switchboard.common.settings import KafkaSettings
from switchboard.common.testing import free_port, read_records, unique

pytestmark = pytest.mark.integration


def call_event(n: int) -> Event:
    data = CallStatusChanged(
        provider="twilio",
        call_id=f"CA{n}",
        status=CallStatus.COMPLETED,
        occurred_at=datetime.now(UTC),
    )
    return Event(id=event_id("list", n), source="/test", data=data, subject=f"CA{n}")


async def test_clients_connect_through_a_list_whose_first_broker_is_down(
    kafka_settings: KafkaSettings,
) -> None:
    listed = KafkaSettings(
        bootstrap_servers=f"127.0.0.1:{free_port()},{kafka_settings.bootstrap_servers}"
    )
    topic = unique("t.list")
    await ensure_topics(listed, [topic], partitions=1)
    # FastStream (history, dialer, ai) — it used to take the whole list for one host name.
    broker = create_broker(listed)
    await broker.connect()
    try:
        assert await broker.ping(timeout=10)
        await publish_record(broker, topic, encode(call_event(1), "CA1"), timeout_s=10)
    finally:
        await broker.stop()
    # The bare producer (ingress).
    producer = create_producer(listed)
    await producer.start()
    try:
        await send_records(producer, [(topic, encode(call_event(2), "CA2"))], timeout_s=10)
    finally:
        await producer.stop()
    records = await read_records(listed, topic, {}, until=lambda r: len(r) >= 2)
    assert sorted(r.key for r in records) == [b"CA1", b"CA2"]
