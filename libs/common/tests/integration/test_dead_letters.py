"""Dead-lettering and replay against the real Kafka."""

import pytest
from aiokafka import ConsumerRecord

from switchboard.common.errors import PermanentError, RetryableError
from switchboard.common.kafka import (
    DeadLetters,
    RetryPolicy,
    create_broker,
    ensure_topics,
    handle_or_dead_letter,
    replay_dead_letters,
)
from switchboard.common.settings import KafkaSettings
from switchboard.common.testing import consumer_record, end_offsets, read_records, unique
from switchboard.common.topics import dlq

pytestmark = pytest.mark.integration
FAST = RetryPolicy(attempts=2, initial_backoff_s=0.001, max_backoff_s=0.002)


def record(topic: str, offset: int, value: bytes) -> ConsumerRecord:
    headers = [("ce_id", b"id-" + value), ("traceparent", b"tp")]
    return consumer_record(None, topic, offset, headers=headers, value=value, key=b"k1")


async def test_failures_are_dead_lettered_with_reason_and_replayed_once(
    kafka_settings: KafkaSettings,
) -> None:
    topic = unique("t.dlq")
    await ensure_topics(kafka_settings, [topic, dlq(topic)], partitions=1)
    broker = create_broker(kafka_settings)
    await broker.connect()
    dead = DeadLetters(broker, group="g1")
    ok_calls: list[int] = []

    async def ok() -> None:
        ok_calls.append(1)

    async def permanent() -> None:
        raise PermanentError("cannot parse")

    async def retryable() -> None:
        raise RetryableError("db down")

    async def bug() -> None:
        raise ValueError("a bug")

    try:
        assert await handle_or_dead_letter(record(topic, 5, b"a"), ok, FAST, dead)
        assert not await handle_or_dead_letter(record(topic, 6, b"b"), permanent, FAST, dead)
        with pytest.raises(RetryableError):  # an outage is not dead-lettered: it propagates
            await handle_or_dead_letter(record(topic, 7, b"c"), retryable, FAST, dead)
        assert not await handle_or_dead_letter(record(topic, 8, b"d"), bug, FAST, dead)
    finally:
        await broker.stop()
    assert ok_calls == [1]

    letters = await read_records(kafka_settings, dlq(topic), {}, until=lambda r: len(r) >= 2)
    by_value = {r.value: dict(r.headers) for r in letters}
    assert set(by_value) == {b"b", b"d"}
    assert by_value[b"b"]["x-dlq-error-type"] == b"PermanentError"
    assert by_value[b"b"]["x-dlq-attempts"] == b"1"
    assert by_value[b"b"]["x-dlq-original-offset"] == b"6"
    assert by_value[b"b"]["x-dlq-error"] == b"cannot parse"
    assert by_value[b"d"]["x-dlq-error-type"] == b"ValueError"
    assert by_value[b"d"]["ce_id"] == b"id-d"  # original headers kept

    start = await end_offsets(kafka_settings, topic)
    assert await replay_dead_letters(kafka_settings, topic, group="g1") == 2
    replayed = await read_records(kafka_settings, topic, start, until=lambda r: len(r) >= 2)
    assert sorted(r.value for r in replayed) == [b"b", b"d"]
    assert all(r.key == b"k1" for r in replayed)
    assert all(not any(k.startswith("x-dlq") for k, _ in r.headers) for r in replayed)
    assert dict(replayed[0].headers)["traceparent"] == b"tp"
    # the replay group remembers: nothing is sent twice
    assert await replay_dead_letters(kafka_settings, topic, group="g1", idle_timeout_s=3) == 0


async def test_process_record_dead_letters_what_is_not_an_event(
    kafka_settings: KafkaSettings,
) -> None:
    from switchboard.common.kafka import process_record

    topic = unique("t.poison")
    await ensure_topics(kafka_settings, [topic, dlq(topic)], partitions=1)
    broker = create_broker(kafka_settings)
    await broker.connect()
    handled: list[object] = []

    async def handler(event: object) -> None:
        handled.append(event)

    try:
        ok = await process_record(
            record(topic, 9, b"not json"), handler, FAST, DeadLetters(broker, group="g2")
        )
    finally:
        await broker.stop()
    assert ok is False
    assert handled == []
    [letter] = await read_records(kafka_settings, dlq(topic), {}, until=lambda r: len(r) >= 1)
    assert dict(letter.headers)["x-dlq-error-type"] == b"InvalidEventError"
