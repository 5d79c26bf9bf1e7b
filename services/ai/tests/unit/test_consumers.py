"""The inbound subscription: one conversation in order, conversations concurrently, poison →
DLQ, and a conversation failing past its retries waits alone while the others are answered."""

import asyncio

from aiokafka import ConsumerRecord, TopicPartition

from switchboard.ai.consumers import record_handler
from switchboard.ai.errors import SendFailed, StoreUnavailable
from switchboard.common.events import encode
from switchboard.common.kafka import KeyedPipeline, RetryPolicy
from switchboard.common.testing import eventually

TP = TopicPartition("message.inbound", 0)
FAST = RetryPolicy(attempts=2, initial_backoff_s=0.0, max_backoff_s=0.0)


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


def pipeline(handler, dead, *, concurrency=8, sleep=asyncio.sleep, pause_s=0.01):
    p = KeyedPipeline(
        record_handler(handler, dead, FAST, group="ai"),
        group="ai-test",
        concurrency=concurrency,
        retry_pause_s=pause_s,
        max_retry_pause_s=pause_s * 4,
        sleep=sleep,
    )
    p.assign([TP])
    return p


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
    p = pipeline(handler, dead, concurrency=2)
    p.submit(records)
    await eventually(lambda: p.buffered == 0, timeout_s=10, interval_s=0.01)
    assert order == {c: [f"{c}-0", f"{c}-1", f"{c}-2"] for c in "abcd"}
    assert peak == 2
    assert dead.sent == []
    assert p.commit_points() == {TP: 12}


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
    p = pipeline(handler, dead)
    p.submit([poison, good])
    await eventually(lambda: p.buffered == 0, timeout_s=10, interval_s=0.01)
    assert handled == ["good"]
    [(letter, error)] = dead.sent
    assert letter.offset == 0
    assert type(error).__name__ == "InvalidEventError"
    assert p.commit_points() == {TP: 2}  # the dead letter counts as done


async def test_a_failing_conversation_waits_alone_and_keeps_its_order(build) -> None:
    """One conversation's sends keep failing (Meta's 131056 for that customer): it is neither
    dead-lettered nor holding the others back; when the provider takes it again, its messages
    go out in order. This is what a batch that failed whole could not do (it held everyone)."""
    handled: list[str] = []
    tries: list[str] = []
    failing = {"noisy": 5}

    async def handler(event) -> str:
        mid = event.data.message_id
        tries.append(mid)
        if failing.get(event.data.contact, 0) > 0:
            failing[event.data.contact] -= 1
            raise SendFailed("131056: pair rate limit hit")
        handled.append(mid)
        return "replied"

    records = [
        record(build.inbound("n1", contact="noisy"), "knoisy", 0),
        record(build.inbound("n2", contact="noisy"), "knoisy", 1),
        *(record(build.inbound(f"q{n}", contact=f"c{n}"), f"k{n}", n + 2) for n in range(20)),
    ]
    dead = FakeDeadLetters()
    p = pipeline(handler, dead)
    p.submit(records)
    await eventually(lambda: p.buffered == 0, timeout_s=20, interval_s=0.01)
    assert dead.sent == []
    assert handled[:20] == [f"q{n}" for n in range(20)]  # nobody waited for "noisy"
    assert handled[20:] == ["n1", "n2"]  # in order, once the provider took it again
    assert "n2" not in tries[: tries.index("n1") + 5]  # n2 was not tried before n1 went out
    assert p.commit_points() == {TP: 22}


async def test_an_outage_stalls_every_conversation_without_dead_letters(build) -> None:
    """MongoDB down: every conversation waits (growing pauses), nothing is dead-lettered or
    committed, and each message is answered once the datastore is back."""
    down = True
    handled: list[str] = []
    pauses: list[float] = []

    async def sleep(seconds: float) -> None:
        pauses.append(seconds)
        await asyncio.sleep(0.001)

    async def handler(event) -> str:
        if down:
            raise StoreUnavailable("mongo down")
        handled.append(event.data.message_id)
        return "replied"

    dead = FakeDeadLetters()
    p = pipeline(handler, dead, sleep=sleep)
    p.submit([record(build.inbound(f"m{n}", contact=f"c{n}"), f"k{n}", n) for n in range(3)])
    await eventually(lambda: len(pauses) >= 9, timeout_s=10, interval_s=0.01)
    assert p.commit_points() == {}
    assert dead.sent == []
    assert max(pauses) > min(pauses)  # the pauses grow while the outage lasts
    down = False
    await eventually(lambda: p.buffered == 0, timeout_s=10, interval_s=0.01)
    assert sorted(handled) == ["m0", "m1", "m2"]
    assert p.commit_points() == {TP: 3}
