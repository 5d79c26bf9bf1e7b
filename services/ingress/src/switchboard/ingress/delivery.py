"""Durable acceptance: a webhook is answered 2xx only once all its events are durable —
acked by Kafka, or written to the fsync'd spool when Kafka is down or slower than the deadline.

After a failed publish, new events go straight to the spool (no request waits out the deadline
on a broker that just failed) until the drainer gets a batch through to Kafka; from then on they
go to Kafka again while the backlog drains behind them. Keeping every new event behind the
backlog instead would turn one slow publish under load into spool-only service (an fsync per
request) for as long as the load lasts. The spool drains in order; events that arrive after
recovery may reach Kafka before the end of the backlog (consumers order a call's events by
status precedence and time, not by arrival). The drainer deletes only what was acked.
"""

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Literal, Protocol

import structlog

from switchboard.common.errors import PublishError
from switchboard.common.events import KafkaRecord, encode
from switchboard.common.metrics import labelled
from switchboard.common.telemetry import inject_headers
from switchboard.ingress.events import Outgoing
from switchboard.ingress.metrics import DELIVERIES, SPOOL_AGE, SPOOL_DEPTH
from switchboard.ingress.record_limit import RecordLimit
from switchboard.ingress.spool import Spool

log = structlog.get_logger(__name__)
Outcome = Literal["published", "spooled"]


class RecordPublisher(Protocol):
    """The Kafka side (KafkaPublisher in production, a fake in tests)."""

    @property
    def connected(self) -> bool: ...

    async def publish_all(
        self, records: Sequence[tuple[str, KafkaRecord]], *, timeout_s: float
    ) -> None: ...


class Delivery:
    """Publish-or-spool for whole requests (all events of a request or none)."""

    def __init__(
        self,
        publisher: RecordPublisher,
        spool: Spool,
        limit: RecordLimit,
        *,
        deadline_s: float,
        drain_batch: int,
        drain_retry_s: float,
    ) -> None:
        self._publisher = publisher
        self._spool = spool
        self._limit = limit
        self._deadline_s = deadline_s
        self._drain_batch = drain_batch
        self._drain_retry_s = drain_retry_s
        self._wake = asyncio.Event()
        self._kafka_ok = True
        """False from a failed publish until the drainer gets a batch through."""

    async def deliver(self, outgoing: Sequence[Outgoing]) -> Outcome:
        """Make every event durable; raises SpoolUnavailable when that is impossible, and
        EventTooLarge (nothing published) when one does not fit a Kafka record."""
        trace_headers = inject_headers()  # the request's span continues in every consumer
        records = [(o.topic, encode(o.event, o.key, trace_headers)) for o in outgoing]
        if not records:
            return "published"
        limit = self._limit
        for n, (topic, record) in enumerate(records):
            if len(record.value) > limit.exact_above:  # cheap; see record_limit
                o = outgoing[n]
                records[n] = (topic, limit.fit(o.event, o.key, record, trace_headers))
        if self._kafka_ok and self._publisher.connected:
            try:
                await self._publisher.publish_all(records, timeout_s=self._deadline_s)
            except PublishError as exc:
                self._kafka_ok = False
                log.warning("publish failed; spooling", error=str(exc), events=len(records))
            else:
                labelled(DELIVERIES, "published").inc(len(records))
                return "published"
        # Some may have been acked before the failure: they get published again with the
        # same event ids, which consumers drop.
        await self._spool.append(records)
        labelled(DELIVERIES, "spooled").inc(len(records))
        self._observe()
        self._wake.set()
        return "spooled"

    @property
    def degraded(self) -> bool:
        """True while events wait in the spool or Kafka is not connected."""
        return self._spool.depth > 0 or not self._publisher.connected

    async def kafka_ok(self) -> bool:
        """Readiness (degraded) check: Kafka takes events directly, nothing is spooled."""
        return not self.degraded

    def _observe(self) -> None:
        SPOOL_DEPTH.set(self._spool.depth)
        SPOOL_AGE.set(self._spool.oldest_age_s())

    async def drain_once(self) -> int:
        """Publish the oldest batch from the spool; returns how many left it."""
        batch = await self._spool.peek(self._drain_batch)
        if not batch:
            self._kafka_ok = True  # nothing to prove it with (the spool refused the events)
            return 0
        if not self._publisher.connected:
            raise PublishError("producer not connected")
        await self._publisher.publish_all(
            [(s.topic, s.record) for s in batch], timeout_s=max(self._deadline_s, 5.0)
        )
        self._kafka_ok = True
        await self._spool.delete_through(batch[-1].seq)
        labelled(DELIVERIES, "drained").inc(len(batch))
        self._observe()
        return len(batch)

    async def drain_forever(self) -> None:
        """The drainer: runs for the life of the app under ``common.supervise`` (an unexpected
        exception restarts it with backoff and shows in ``/ready``)."""
        self._observe()
        if self._spool.depth:
            log.info("spool has events to drain", depth=self._spool.depth)
        while True:
            try:
                while await self.drain_once():
                    pass
            except PublishError as exc:
                log.info("spool drain waiting for kafka", depth=self._spool.depth, error=str(exc))
                self._observe()
                await asyncio.sleep(self._drain_retry_s)
                continue
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                # Wake up on new spooled events, and now and then to refresh the age gauge.
                await asyncio.wait_for(self._wake.wait(), timeout=self._drain_retry_s * 5)
