"""Batch processing: one conversation in order, conversations concurrently, poison → DLQ."""

import asyncio

import pytest
from aiokafka import ConsumerRecord

from switchboard.ai.consumers import process_records
from switchboard.ai.errors import StoreUnavailable
from switchboard.common.errors import RetryableError
from switchboard.common.events import encode
from switchboard.common.kafka import RetryPolicy


class FakeDeadLetters:
    def __init__(self) -> None:
        self.sent: list[tuple[ConsumerRecord, BaseException]] = []

    async def send(self, record, error, attempts) -> None:
        self.sent.append((record, error))


def record(event, key: str, offset: int) -> ConsumerRecord:
    wire = encode(event, key)
    return ConsumerRecord(
        topic="message.inbound",
        partition=0,
        offset=offset,
        timestamp=0,
        timestamp_type=0,
        key=wire.key,
        value=wire.value,
        checksum=None,
        serialized_key_size=0,
        serialized_value_size=0,
        headers=list(wire.headers.items()),
    )


async def test_order_per_conversation_and_concurrency_across(build) -> None:
    active = 0
    peak = 0
    order: dict[str, list[str]] = {}

    async def handler(event) -> str:
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        await asyncio.sleep(0.01)
        order.setdefault(event.data.contact, []).append(event.data.message_id)
        active -= 1
        return "ok"

    records = [
        record(build.inbound(f"{c}-{i}", contact=c), f"k{c}", n)
        for n, (i, c) in enumerate((i, c) for i in range(3) for c in ("a", "b", "c", "d"))
    ]
    dead = FakeDeadLetters()
    await process_records(records, handler, dead, RetryPolicy(), concurrency=2, group="g")
    assert order == {c: [f"{c}-0", f"{c}-1", f"{c}-2"] for c in "abcd"}
    assert peak == 2
    assert dead.sent == []


async def test_poison_message_is_dead_lettered_and_the_rest_handled(build) -> None:
    handled: list[str] = []

    async def handler(event) -> str:
        handled.append(event.data.message_id)
        return "ok"

    good = record(build.inbound("good"), "k1", 1)
    poison = ConsumerRecord(
        topic="message.inbound",
        partition=0,
        offset=0,
        timestamp=0,
        timestamp_type=0,
        key=b"k1",
        value=b"not an event",
        checksum=None,
        serialized_key_size=0,
        serialized_value_size=0,
        headers=[],
    )
    dead = FakeDeadLetters()
    policy = RetryPolicy(attempts=2, initial_backoff_s=0.0, max_backoff_s=0.0)
    await process_records([poison, good], handler, dead, policy, concurrency=4, group="g")
    assert handled == ["good"]
    [(letter, error)] = dead.sent
    assert letter.offset == 0
    assert type(error).__name__ == "InvalidEventError"


async def test_an_outage_fails_the_batch_without_dead_letters_and_keeps_order(build) -> None:
    """MongoDB/Redis down for longer than the retries: nothing is dead-lettered; the batch
    fails (so it is read again), the other conversations are handled meanwhile, and the
    failing conversation's later messages wait (its order is kept)."""
    handled: list[str] = []
    tries: list[str] = []

    async def handler(event) -> str:
        mid = event.data.message_id
        tries.append(mid)
        if event.data.contact == "down":
            raise StoreUnavailable("mongo down")
        await asyncio.sleep(0.05)  # still at work when the other conversation gives up
        handled.append(mid)
        return "replied"

    records = [
        record(build.inbound("d1", contact="down"), "kdown", 0),
        record(build.inbound("d2", contact="down"), "kdown", 1),
        record(build.inbound("u1", contact="up"), "kup", 2),
        record(build.inbound("u2", contact="up"), "kup", 3),
    ]
    dead = FakeDeadLetters()
    policy = RetryPolicy(attempts=3, initial_backoff_s=0.0, max_backoff_s=0.0)
    with pytest.raises(RetryableError):
        await process_records(records, handler, dead, policy, concurrency=4, group="g")
    assert dead.sent == []
    assert handled == ["u1", "u2"]  # finished before the batch failed: none left running
    assert tries.count("d1") == policy.attempts
    assert "d2" not in tries
