"""Batch processing: one conversation in order, conversations concurrently, poison → DLQ."""

import asyncio

from aiokafka import ConsumerRecord

from switchboard.ai.consumers import process_records
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
