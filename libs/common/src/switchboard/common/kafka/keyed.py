"""Keyed consumption: one key's records in order, keys concurrently, offsets committed up to
the first record not yet done, so a slow or stalled key holds back neither the next batch nor
the other keys.

Why: a consumer that handles a batch whole and commits it whole waits, for every batch, for its
slowest key, and one key failing past its retries (a provider refusing one conversation for a
while: Meta's per-recipient limit 131056, a send answering 5xx for one message) fails the batch
for everyone until it passes. Here every key has a queue of its own:

- ``submit(records)`` (called by the subscriber's handler) appends each record to its key's
  queue and returns at once: the next batch is read while these are handled.
- A key's records are handled one at a time in offset order; at most ``concurrency`` records
  are handled at once across keys.
- A record whose handling raises (the caller's retries are inside ``handle``: a retryable
  error past them, or a failure to dead-letter) is tried again after a pause that doubles while
  it keeps failing (``retry_pause_s`` … ``max_retry_pause_s``): its key waits, the other keys
  go on. It is never dead-lettered for that (``dlq.py``'s rule). When every key fails (an
  outage) the buffer fills, fetching pauses and the consumer is stalled, as before.
- Offsets: each partition's records are tracked in the order they were read; what is committed
  is one past the longest prefix of them that is done (:class:`PartitionOffsets`). A crash
  re-delivers from there: records done after a stalled one are handled again, which the
  handlers' idempotency makes harmless (at least once, as everywhere).
- Bounds: ``max_buffered`` records read and not yet done (all fetching pauses above it and
  resumes at half), ``max_uncommitted`` records per partition behind its commit point (that
  partition pauses: a key stalled for long costs at most that much redelivery after a crash).
- Rebalance: a revoked partition's records not yet started are dropped (its new owner reads
  them from the committed offset); those being handled get ``revoke_timeout_s`` to finish
  (a key waiting out a pause is stopped at once), then the commit point is committed.
- Stop: the same for every partition (stop taking records, let the ones being handled finish,
  commit).

Metrics: ``switchboard_consumer_stalled{group}`` is 1 while at least one key waits out such a
pause, ``switchboard_consumer_stalled_keys{group}`` says how many, and
``switchboard_consumer_stalls_total{group}`` counts the failed tries.
"""

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping, Sequence
from typing import Any, Final, TypeAlias

import structlog
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError
from prometheus_client import Gauge

from switchboard.common.kafka.stall import STALLED, STALLS, Sleep

log = structlog.get_logger(__name__)

Record: TypeAlias = "ConsumerRecord[bytes, bytes]"
Handle = Callable[[Record], Awaitable[object]]
QueueKey: TypeAlias = tuple[TopicPartition, bytes | None]

STALLED_KEYS = Gauge(
    "switchboard_consumer_stalled_keys",
    "Keys (conversations, calls) whose next record failed and waits to be tried again.",
    ["group"],
)
NO_ROOM_LOG_EVERY: Final = 100


class PartitionOffsets:
    """The offsets of one partition in the order they were read; ``position`` is one past the
    longest done prefix (what may be committed), None until the first record is done."""

    __slots__ = ("_done", "_order", "committed", "position")

    def __init__(self) -> None:
        self._order: deque[int] = deque()
        self._done: set[int] = set()
        self.position: int | None = None
        self.committed: int | None = None

    def add(self, offset: int) -> None:
        self._order.append(offset)

    def done(self, offset: int) -> bool:
        """Mark ``offset`` done; True when the position moved."""
        order = self._order
        if not order or order[0] != offset:
            self._done.add(offset)
            return False
        last = order.popleft()
        while order and order[0] in self._done:
            last = order.popleft()
            self._done.discard(last)
        self.position = last + 1
        return True

    def __len__(self) -> int:
        """Records read and not yet behind the position (done or not)."""
        return len(self._order)


class KeyedPipeline:
    """Per-key queues over ``handle``; see the module docstring."""

    def __init__(
        self,
        handle: Handle,
        *,
        group: str,
        concurrency: int = 32,
        retry_pause_s: float = 1.0,
        max_retry_pause_s: float = 30.0,
        sleep: Sleep = asyncio.sleep,
        on_progress: Callable[[], None] | None = None,
    ) -> None:
        self._handle = handle
        self._group = group
        self._slots = asyncio.Semaphore(max(concurrency, 1))
        self._initial = retry_pause_s
        self._max = max(max_retry_pause_s, retry_pause_s)
        self._sleep = sleep
        self._on_progress = on_progress
        self._queues: dict[QueueKey, deque[Record]] = {}
        self._tasks: dict[QueueKey, asyncio.Task[None]] = {}
        self._waiting: set[QueueKey] = set()
        """Keys whose next record failed and has not been handled since."""
        self._pausing: set[QueueKey] = set()
        """Keys sleeping before their next try (safe to cancel: nothing is in flight)."""
        self._stopping: set[QueueKey] = set()
        """Keys of revoked partitions (or all, stopping): a failure ends them, no retry."""
        self._offsets: dict[TopicPartition, PartitionOffsets] = {}
        self._closed = False
        self.buffered = 0
        """Records submitted and not yet done (nor dropped)."""
        STALLED_KEYS.labels(group).set(0)

    # -- partitions ---------------------------------------------------------------------------

    def assign(self, partitions: Iterable[TopicPartition]) -> None:
        """Start tracking ``partitions``; records of untracked partitions are not taken (a
        partition is tracked from its assignment, so nothing is committed for one this
        consumer does not own)."""
        for tp in partitions:
            self._offsets.setdefault(tp, PartitionOffsets())

    @property
    def partitions(self) -> Collection[TopicPartition]:
        return self._offsets.keys()

    def uncommitted(self, tp: TopicPartition) -> int:
        offsets = self._offsets.get(tp)
        return len(offsets) if offsets is not None else 0

    def commit_points(self) -> dict[TopicPartition, int]:
        """Partitions whose position moved since it was last committed, and that position."""
        return {
            tp: o.position
            for tp, o in self._offsets.items()
            if o.position is not None and o.position != o.committed
        }

    def committed(self, points: Mapping[TopicPartition, int]) -> None:
        for tp, position in points.items():
            offsets = self._offsets.get(tp)
            if offsets is not None:
                offsets.committed = position

    # -- records --------------------------------------------------------------------------------

    def submit(self, records: Iterable[Record]) -> int:
        """Queue ``records`` under their keys; returns how many were taken (records of
        partitions not assigned, or after ``close``, are not)."""
        taken = 0
        for record in records:
            tp = TopicPartition(record.topic, record.partition)
            offsets = self._offsets.get(tp)
            if offsets is None or self._closed:
                continue
            offsets.add(record.offset)
            key = (tp, record.key)
            queue = self._queues.get(key)
            if queue is None:
                queue = self._queues[key] = deque()
            queue.append(record)
            taken += 1
            if key not in self._tasks:
                self._tasks[key] = asyncio.create_task(self._run(key, queue, offsets))
        self.buffered += taken
        return taken

    async def _run(self, key: QueueKey, queue: deque[Record], offsets: PartitionOffsets) -> None:
        try:
            while queue:
                record = queue[0]
                try:
                    await self._until_done(key, record)
                except _Stopped:
                    return
                queue.popleft()
                self.buffered -= 1
                offsets.done(record.offset)
                if self._on_progress is not None:
                    self._on_progress()
        finally:
            # Cancelled (revoked, stopped): what is left is not done and not committed.
            self.buffered -= len(queue)
            queue.clear()
            if self._queues.get(key) is queue:
                del self._queues[key]
            if self._tasks.get(key) is asyncio.current_task():
                del self._tasks[key]
                self._stopping.discard(key)
            self._set_waiting(key, False)

    async def _until_done(self, key: QueueKey, record: Record) -> None:
        failures = 0
        while True:
            async with self._slots:
                try:
                    await self._handle(record)
                except Exception as exc:  # noqa: BLE001 - retried below, never dropped
                    error: Exception | None = exc
                else:
                    error = None
            if error is None:
                if failures:
                    log.info(
                        "key handled again after failures",
                        group=self._group,
                        partition=record.partition,
                        offset=record.offset,
                        failures=failures,
                    )
                    self._set_waiting(key, False)
                return
            if key in self._stopping:
                raise _Stopped  # revoked or stopping: the next owner tries it again
            failures += 1
            pause = min(self._max, self._initial * 2.0 ** (failures - 1))
            STALLS.labels(self._group).inc()
            self._set_waiting(key, True)
            log.error(
                "record failed; its key waits, the others go on",
                group=self._group,
                topic=record.topic,
                partition=record.partition,
                offset=record.offset,
                error=str(error)[:300],
                error_type=type(error).__name__,
                failures=failures,
                retry_in_s=pause,
            )
            self._pausing.add(key)
            try:
                await self._sleep(pause)
            finally:
                self._pausing.discard(key)

    def _set_waiting(self, key: QueueKey, waiting: bool) -> None:
        before = len(self._waiting)
        if waiting:
            self._waiting.add(key)
        else:
            self._waiting.discard(key)
        after = len(self._waiting)
        if after != before:
            STALLED_KEYS.labels(self._group).set(after)
            if (before == 0) != (after == 0):
                STALLED.labels(self._group).set(1 if after else 0)

    @property
    def waiting_keys(self) -> int:
        return len(self._waiting)

    # -- revoke / close ---------------------------------------------------------------------

    async def revoke(
        self, partitions: Collection[TopicPartition], timeout_s: float
    ) -> dict[TopicPartition, int]:
        """Stop handling ``partitions``: records not started are dropped, those being handled
        get ``timeout_s`` (a key waiting out a pause is stopped at once); returns the commit
        points to commit before letting them go, and forgets the partitions."""
        # Forgotten first: records of these partitions submitted meanwhile are not taken.
        gone = {tp: o for tp in partitions if (o := self._offsets.pop(tp, None)) is not None}
        await self._stop_keys([k for k in self._tasks if k[0] in gone], timeout_s)
        return {
            tp: o.position
            for tp, o in gone.items()
            if o.position is not None and o.position != o.committed
        }

    async def close(self, timeout_s: float) -> dict[TopicPartition, int]:
        """Take no more records, let those being handled finish (``timeout_s``), and return
        every partition's commit point still to commit."""
        self._closed = True
        await self._stop_keys(list(self._tasks), timeout_s)
        return self.commit_points()

    async def _stop_keys(self, keys: Sequence[QueueKey], timeout_s: float) -> None:
        tasks = []
        for key in keys:
            queue = self._queues.get(key)
            task = self._tasks.get(key)
            if queue is None or task is None:
                continue
            while len(queue) > 1:  # not started: the next owner reads them again
                queue.pop()
                self.buffered -= 1
            self._stopping.add(key)
            if key in self._pausing:
                task.cancel()
            tasks.append(task)
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=timeout_s)
        for task in pending:
            task.cancel()
        if pending:
            log.warning(
                "records still being handled were cancelled",
                group=self._group,
                records=len(pending),
                after_s=timeout_s,
            )
            await asyncio.wait(pending)


class _Stopped(Exception):
    """A key of a revoked partition (or a stopping pipeline) failed: it is not tried again."""


class KeyedSubscription:
    """A :class:`KeyedPipeline` driven by a FastStream batch subscriber with
    ``AckPolicy.MANUAL``: its handler calls :meth:`on_batch`; pass :attr:`listener` to the
    subscriber. Commits the pipeline's progress every ``commit_interval_s`` (and on revoke and
    stop), and pauses fetching while the pipeline is full."""

    def __init__(
        self,
        handle: Handle,
        *,
        group: str,
        concurrency: int = 32,
        max_buffered: int = 2000,
        max_uncommitted: int = 100_000,
        commit_interval_s: float = 1.0,
        revoke_timeout_s: float = 10.0,
        retry_pause_s: float = 1.0,
        max_retry_pause_s: float = 30.0,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.pipeline = KeyedPipeline(
            handle,
            group=group,
            concurrency=concurrency,
            retry_pause_s=retry_pause_s,
            max_retry_pause_s=max_retry_pause_s,
            sleep=sleep,
            on_progress=self._progress,
        )
        self._group = group
        self._max_buffered = max(max_buffered, 1)
        self._max_uncommitted = max(max_uncommitted, 1)
        self._commit_interval_s = commit_interval_s
        self._revoke_timeout_s = revoke_timeout_s
        self._consumer: AIOKafkaConsumer | None = None
        self._committer: asyncio.Task[None] | None = None
        self._paused: set[TopicPartition] = set()
        self._full = False
        self._commit_lock = asyncio.Lock()
        self._stopped = False
        self.listener = _Listener(self)

    async def on_batch(self, consumer: Any, records: Sequence[Record]) -> None:
        """Queue a batch the subscriber read; returns without waiting for it to be handled."""
        if self._stopped:
            return  # not taken: read again by whoever owns the partition next
        self._consumer = consumer
        if self._committer is None or self._committer.done():
            self._committer = asyncio.create_task(self._commit_forever())
        self.pipeline.submit(records)
        self._adjust()

    def _progress(self) -> None:
        if self._paused:
            self._adjust()

    def _adjust(self) -> None:
        """Pause what must wait (everything while the buffer is full, a partition with too
        many records behind its commit point), resume what may go on (with hysteresis)."""
        consumer = self._consumer
        if consumer is None:
            return
        p = self.pipeline
        buffered = p.buffered
        self._full = buffered >= self._max_buffered or (
            self._full and buffered > self._max_buffered // 2
        )
        high, low = self._max_uncommitted, self._max_uncommitted // 2
        wanted = {
            tp
            for tp in p.partitions
            if self._full
            or p.uncommitted(tp) >= high
            or (tp in self._paused and p.uncommitted(tp) > low)
        }
        if wanted == self._paused:
            return
        pause, resume = wanted - self._paused, self._paused - wanted
        if pause:
            consumer.pause(*pause)
        if resume:
            consumer.resume(*resume)
        log.info(
            "fetching paused" if wanted else "fetching resumed",
            group=self._group,
            paused=len(wanted),
            buffered=buffered,
        )
        self._paused = wanted

    async def _commit_forever(self) -> None:
        while True:
            await asyncio.sleep(self._commit_interval_s)
            await self.commit()

    async def commit(self, points: Mapping[TopicPartition, int] | None = None) -> bool:
        """Commit the pipeline's progress (or ``points``); False when the broker refused
        (logged; the next commit carries it, a redelivery is harmless)."""
        consumer = self._consumer
        if consumer is None:
            return False
        async with self._commit_lock:
            points = dict(points if points is not None else self.pipeline.commit_points())
            if not points:
                return True
            try:
                await consumer.commit(points)
            except (KafkaError, OSError) as exc:
                log.warning("offset commit failed", group=self._group, error=repr(exc))
                return False
            self.pipeline.committed(points)
            return True

    async def revoked(self, partitions: Collection[TopicPartition]) -> None:
        points = await self.pipeline.revoke(partitions, self._revoke_timeout_s)
        self._paused -= set(partitions)
        await self.commit(points)

    def assigned(self, partitions: Collection[TopicPartition]) -> None:
        self.pipeline.assign(partitions)

    async def stop(self, timeout_s: float = 10.0) -> None:
        """Stop taking records, finish those being handled (``timeout_s``), commit."""
        self._stopped = True
        points = await self.pipeline.close(timeout_s)
        if self._committer is not None:
            self._committer.cancel()
            await asyncio.gather(self._committer, return_exceptions=True)
        await self.commit(points)


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, subscription: KeyedSubscription) -> None:
        self._subscription = subscription

    async def on_partitions_revoked(self, revoked: Collection[TopicPartition]) -> None:
        await self._subscription.revoked(revoked)

    async def on_partitions_assigned(self, assigned: Collection[TopicPartition]) -> None:
        self._subscription.assigned(assigned)
