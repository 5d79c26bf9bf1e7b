"""Keyed consumption: order per key, keys concurrently, a slow or failing key holds back neither
the next batch nor the other keys, offsets committed only up to the first record not done."""

import asyncio

from aiokafka import ConsumerRecord, TopicPartition
from prometheus_client import REGISTRY

from switchboard.common.errors import RetryableError
from switchboard.common.kafka import KeyedPipeline, KeyedSubscription, PartitionOffsets
from switchboard.common.testing import eventually, unique

TP0 = TopicPartition("t", 0)
TP1 = TopicPartition("t", 1)


def rec(key: str, offset: int, partition: int = 0) -> ConsumerRecord:
    return ConsumerRecord(
        topic="t",
        partition=partition,
        offset=offset,
        timestamp=0,
        timestamp_type=0,
        key=key.encode(),
        value=f"{key}@{offset}".encode(),
        checksum=None,
        serialized_key_size=0,
        serialized_value_size=0,
        headers=[],
    )


class Gates:
    """Handling of a record waits until its gate opens (none: at once)."""

    def __init__(self) -> None:
        self.gates: dict[bytes, asyncio.Event] = {}
        self.handled: list[bytes] = []
        self.active = 0
        self.peak = 0

    def close(self, key: str, offset: int) -> asyncio.Event:
        gate = self.gates[f"{key}@{offset}".encode()] = asyncio.Event()
        return gate

    async def __call__(self, record: ConsumerRecord) -> None:
        self.active += 1
        self.peak = max(self.peak, self.active)
        try:
            await asyncio.sleep(0)
            gate = self.gates.get(record.value)
            if gate is not None:
                await gate.wait()
            self.handled.append(record.value)
        finally:
            self.active -= 1


def test_the_position_is_one_past_the_longest_done_prefix() -> None:
    o = PartitionOffsets()
    for offset in (5, 6, 9, 10):  # gaps (compaction, markers) are normal
        o.add(offset)
    assert o.done(6) is False and o.position is None
    assert o.done(9) is False
    assert o.done(5) is True and o.position == 10  # 5, 6 and 9 done: next is 10
    assert len(o) == 1
    assert o.done(10) is True and o.position == 11
    assert len(o) == 0


async def test_order_per_key_and_bounded_concurrency_across_keys() -> None:
    handle = Gates()
    p = KeyedPipeline(handle, group=unique("g"), concurrency=3)
    p.assign([TP0])
    records = [rec(k, n) for n, k in enumerate(k for _ in range(4) for k in "abcdef")]
    p.submit(records)
    await eventually(lambda: p.buffered == 0, timeout_s=10, interval_s=0.01)
    for key in "abcdef":
        mine = [v for v in handle.handled if v.startswith(key.encode())]
        assert mine == sorted(mine, key=lambda v: int(v.split(b"@")[1]))
        assert len(mine) == 4
    assert 1 < handle.peak <= 3
    assert p.commit_points() == {TP0: 24}


async def test_a_slow_key_holds_back_neither_other_keys_nor_the_next_batch() -> None:
    handle = Gates()
    slow = handle.close("slow", 0)
    p = KeyedPipeline(handle, group=unique("g"), concurrency=4)
    p.assign([TP0])
    p.submit([rec("slow", 0), rec("slow", 1), rec("a", 2)])
    p.submit([rec("b", 3), rec("a", 4)])  # the next batch, read while "slow" is at work
    await eventually(lambda: len(handle.handled) == 3, timeout_s=10, interval_s=0.01)
    assert handle.handled == [b"a@2", b"b@3", b"a@4"]
    # Nothing committed past the slow record: a crash now re-reads from offset 0.
    assert p.commit_points() == {}
    assert p.uncommitted(TP0) == 5
    slow.set()
    await eventually(lambda: p.buffered == 0, timeout_s=10, interval_s=0.01)
    assert handle.handled[3:] == [b"slow@0", b"slow@1"]
    assert p.commit_points() == {TP0: 5}


async def test_a_failing_key_retries_alone_with_growing_pauses_and_is_never_dropped() -> None:
    """A conversation whose send keeps failing (Meta's per-recipient limit, a 5xx for one
    message) waits and tries again; the other keys are handled meanwhile."""
    group = unique("g")
    pauses: list[float] = []
    resume = asyncio.Event()
    fails_left = 4
    handled: list[bytes] = []

    async def sleep(seconds: float) -> None:
        pauses.append(seconds)
        if len(pauses) == 3:
            await resume.wait()

    async def handle(record: ConsumerRecord) -> None:
        nonlocal fails_left
        if record.key == b"noisy" and fails_left:
            fails_left -= 1
            raise RetryableError("131056: pair rate limit")
        handled.append(record.value)

    p = KeyedPipeline(
        handle, group=group, concurrency=2, retry_pause_s=1.0, max_retry_pause_s=3.0, sleep=sleep
    )
    p.assign([TP0])
    p.submit([rec("noisy", 0), rec("noisy", 1), *(rec(f"k{n}", n) for n in range(2, 12))])
    await eventually(lambda: len(handled) == 10 and len(pauses) == 3, timeout_s=10, interval_s=0.01)
    assert all(not v.startswith(b"noisy") for v in handled)
    assert _sample("switchboard_consumer_stalled", group) == 1
    assert _sample("switchboard_consumer_stalled_keys", group) == 1
    assert p.commit_points() == {}  # offset 0 is not done
    resume.set()
    await eventually(lambda: p.buffered == 0, timeout_s=10, interval_s=0.01)
    assert pauses == [1.0, 2.0, 3.0, 3.0]
    assert handled[-2:] == [b"noisy@0", b"noisy@1"]
    assert _sample("switchboard_consumer_stalled", group) == 0
    assert _sample("switchboard_consumer_stalls_total", group) == 4
    assert p.commit_points() == {TP0: 12}


async def test_revoke_drops_unstarted_records_lets_running_ones_finish_and_stops_waiters() -> None:
    handle = Gates()
    running = handle.close("run", 1)
    failing_sleeps: list[float] = []

    async def sleep(seconds: float) -> None:
        failing_sleeps.append(seconds)
        await asyncio.Event().wait()  # forever, unless cancelled

    async def handler(record: ConsumerRecord) -> None:
        if record.key == b"bad":
            raise RetryableError("down")
        await handle(record)

    p = KeyedPipeline(handler, group=unique("g"), concurrency=8, sleep=sleep)
    p.assign([TP0, TP1])
    p.submit([rec("done", 0), rec("run", 1), rec("run", 2), rec("bad", 3)])
    p.submit([rec("other", 0, partition=1)])
    await eventually(
        lambda: failing_sleeps and b"done@0" in handle.handled, timeout_s=10, interval_s=0.01
    )
    revoking = asyncio.create_task(p.revoke([TP0], timeout_s=30))
    await asyncio.sleep(0.05)
    assert not revoking.done()  # "run@1" is still being handled
    assert p.submit([rec("late", 4)]) == 0  # a revoked partition's records are not taken
    running.set()
    points = await revoking
    assert points == {TP0: 2}  # done, run@1 finished; run@2 never started, bad never done
    assert b"run@2" not in handle.handled
    assert p.buffered == 0
    assert p.partitions == {TP1}
    assert p.commit_points() == {TP1: 1}


async def test_close_takes_nothing_more_and_returns_the_last_commit_points() -> None:
    handle = Gates()
    gate = handle.close("a", 0)
    p = KeyedPipeline(handle, group=unique("g"))
    p.assign([TP0])
    p.submit([rec("a", 0), rec("a", 1), rec("b", 2)])
    await eventually(lambda: b"b@2" in handle.handled, timeout_s=10, interval_s=0.01)
    closing = asyncio.create_task(p.close(timeout_s=30))
    await asyncio.sleep(0.02)
    assert p.submit([rec("c", 3)]) == 0
    gate.set()
    assert await closing == {TP0: 1}  # a@0 done; a@1 dropped (read again by the next owner)
    assert b"a@1" not in handle.handled


async def test_close_cancels_a_record_that_outlasts_the_timeout() -> None:
    handle = Gates()
    handle.close("stuck", 0)
    p = KeyedPipeline(handle, group=unique("g"))
    p.assign([TP0])
    p.submit([rec("stuck", 0)])
    await asyncio.sleep(0.01)
    assert await p.close(timeout_s=0.05) == {}
    assert p.buffered == 0


class FakeConsumer:
    def __init__(self) -> None:
        self.paused: set[TopicPartition] = set()
        self.commits: list[dict[TopicPartition, int]] = []

    def pause(self, *tps: TopicPartition) -> None:
        self.paused.update(tps)

    def resume(self, *tps: TopicPartition) -> None:
        self.paused.difference_update(tps)

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self.commits.append(dict(offsets))


async def test_fetching_pauses_while_the_buffer_is_full_and_resumes_at_half() -> None:
    handle = Gates()
    gates = [handle.close(f"k{n}", n) for n in range(10)]
    sub = KeyedSubscription(
        handle, group=unique("g"), max_buffered=10, commit_interval_s=3600, concurrency=20
    )
    consumer = FakeConsumer()
    sub.assigned([TP0, TP1])
    await sub.on_batch(consumer, [rec(f"k{n}", n) for n in range(9)])
    assert consumer.paused == set()
    await sub.on_batch(consumer, [rec("k9", 9)])
    assert consumer.paused == {TP0, TP1}
    for gate in gates[:4]:
        gate.set()
    await eventually(lambda: sub.pipeline.buffered == 6, timeout_s=10, interval_s=0.01)
    assert consumer.paused == {TP0, TP1}  # above half: still paused
    gates[4].set()
    await eventually(lambda: consumer.paused == set(), timeout_s=10, interval_s=0.01)
    for gate in gates[5:]:
        gate.set()
    await eventually(lambda: sub.pipeline.buffered == 0, timeout_s=10, interval_s=0.01)
    assert await sub.commit()
    assert consumer.commits == [{TP0: 10}]
    await sub.stop()


async def test_a_partition_too_far_behind_its_commit_point_pauses_alone() -> None:
    handle = Gates()
    stuck = handle.close("stuck", 0)
    sub = KeyedSubscription(
        handle, group=unique("g"), max_uncommitted=4, max_buffered=1000, commit_interval_s=3600
    )
    consumer = FakeConsumer()
    sub.assigned([TP0, TP1])
    await sub.on_batch(consumer, [rec("stuck", 0), *(rec(f"k{n}", n) for n in range(1, 4))])
    await eventually(lambda: consumer.paused == {TP0}, timeout_s=10, interval_s=0.01)
    await sub.on_batch(consumer, [rec("other", 0, partition=1)])
    await eventually(lambda: b"other@0" in handle.handled, timeout_s=10, interval_s=0.01)
    stuck.set()
    await eventually(lambda: consumer.paused == set(), timeout_s=10, interval_s=0.01)
    await sub.stop()
    assert consumer.commits == [{TP0: 4, TP1: 1}]


async def test_revoke_commits_what_is_done_of_the_revoked_partitions() -> None:
    handle = Gates()
    sub = KeyedSubscription(handle, group=unique("g"), commit_interval_s=3600)
    consumer = FakeConsumer()
    await sub.listener.on_partitions_assigned([TP0, TP1])
    await sub.on_batch(consumer, [rec("a", 7), rec("b", 3, partition=1)])
    await eventually(lambda: sub.pipeline.buffered == 0, timeout_s=10, interval_s=0.01)
    await sub.listener.on_partitions_revoked([TP0])
    assert consumer.commits == [{TP0: 8}]
    await sub.stop()
    assert consumer.commits[-1] == {TP1: 4}


def _sample(name: str, group: str) -> float | None:
    return REGISTRY.get_sample_value(name, {"group": group})
