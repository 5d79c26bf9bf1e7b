"""What a consuming service logs per message, against the real Kafka."""

import asyncio
import logging

import pytest

from switchboard.common.kafka import create_broker, ensure_topics
from switchboard.common.settings import KafkaSettings
from switchboard.common.testing import eventually, unique

pytestmark = pytest.mark.integration


async def test_per_message_lines_are_debug_and_failures_stay_errors(
    kafka_settings: KafkaSettings, caplog: pytest.LogCaptureFixture
) -> None:
    topic = unique("t.logging")
    await ensure_topics(kafka_settings, [topic], partitions=1)
    broker = create_broker(kafka_settings)
    seen: list[bytes] = []

    @broker.subscriber(topic, group_id=unique("g"), auto_offset_reset="earliest")
    async def handle(body: bytes) -> None:
        seen.append(body)
        if body == b"bad":
            raise ValueError("bad message")

    # The broker logs through a plain standard logger (create_broker passes it), so its lines
    # reach the process's one handler; listen on it at every level.
    access = logging.getLogger("faststream.kafka")
    try:
        await broker.start()
        access.addHandler(caplog.handler)
        access.setLevel(logging.DEBUG)
        await broker.publish(b"ok", topic)
        await broker.publish(b"bad", topic)
        await eventually(lambda: len(seen) == 2, timeout_s=60)
        await asyncio.sleep(0.2)  # the failed message's error line follows its handler
    finally:
        await broker.stop()
        access.removeHandler(caplog.handler)
        access.setLevel(logging.NOTSET)

    per_message = [r for r in caplog.records if r.getMessage() in {"Received", "Processed"}]
    assert len(per_message) >= 3
    assert {r.levelno for r in per_message} == {logging.DEBUG}
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert any("bad message" in r.getMessage() for r in errors)
