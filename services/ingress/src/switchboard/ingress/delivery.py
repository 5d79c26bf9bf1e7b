"""Durable acceptance: a webhook is answered 2xx only once all its events are durable —
acked by Kafka, or written to the fsync'd spool when Kafka is down or slower than the deadline.

After a failed publish, new events go straight to the spool (no request waits out the deadline
on a broker that just failed) until the drainer gets a batch through to Kafka; from then on they
go to Kafka again while the backlog drains behind them. Keeping every new event behind the
backlog instead would turn one slow publish under load into spool-only service (an fsync per
request) for as long as the load lasts. The spool drains in order; events that arrive after
recovery may reach Kafka before the end of the backlog (consumers order a call's events by
status precedence and time, not by arrival). The drainer (``drain.py``) deletes only what was
acked, and sets aside what can never be published.
"""

from collections.abc import Sequence
from typing import Literal

import structlog

from switchboard.common.errors import PublishError
from switchboard.common.events import encode
from switchboard.common.metrics import labelled
from switchboard.common.telemetry import inject_headers
from switchboard.ingress.drain import SpoolDrainer
from switchboard.ingress.mappers import Outgoing
from switchboard.ingress.metrics import DELIVERIES
from switchboard.ingress.publish import RecordPublisher
from switchboard.ingress.record_limit import RecordLimit
from switchboard.ingress.spool import Spool

log = structlog.get_logger(__name__)
Outcome = Literal["published", "spooled"]


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
        max_attempts: int = 10,
    ) -> None:
        self._publisher = publisher
        self._spool = spool
        self._limit = limit
        self._deadline_s = deadline_s
        self._kafka_ok = True
        """False from a failed publish until the drainer gets a batch through."""
        self.drainer = SpoolDrainer(
            publisher,
            spool,
            limit,
            batch=drain_batch,
            retry_s=drain_retry_s,
            publish_timeout_s=deadline_s,
            max_attempts=max_attempts,
            on_published=self._kafka_takes_events,
        )

    def _kafka_takes_events(self) -> None:
        self._kafka_ok = True

    async def deliver(self, outgoing: Sequence[Outgoing]) -> Outcome:
        """Make every event durable; raises SpoolUnavailable when that is impossible, and
        EventTooLarge (nothing published) when one does not fit a Kafka record."""
        trace_headers = inject_headers()  # the request's span continues in every consumer
        records = [(o.topic, encode(o.event, o.key, trace_headers)) for o in outgoing]
        if not records:
            return "published"
        limit = self._limit
        for n, (topic, record) in enumerate(records):
            o = outgoing[n]
            if len(record.value) > limit.exact_above:  # cheap; see record_limit
                record = limit.fit(o.event, o.key, record, trace_headers)
                records[n] = (topic, record)
            if o.headers:  # unowned events say where they would have gone
                record.headers.update(o.headers)
        if self._kafka_ok and self._publisher.connected:
            try:
                await self._publisher.publish_all(records, timeout_s=self._deadline_s)
            except PublishError as exc:
                self._kafka_ok = False
                log.warning(
                    "publish failed; spooling",
                    error=str(exc),
                    events=len(records),
                    event_ids=[o.event.id for o in outgoing[:10]],
                    tenant=outgoing[0].event.tenant,
                )
            else:
                labelled(DELIVERIES, "published").inc(len(records))
                return "published"
        # Some may have been acked before the failure: they get published again with the
        # same event ids, which consumers drop.
        await self._spool.append(records)
        labelled(DELIVERIES, "spooled").inc(len(records))
        self.drainer.observe()
        self.drainer.wake()
        return "spooled"

    @property
    def degraded(self) -> bool:
        """True while events wait in the spool or Kafka is not connected."""
        return self._spool.depth > 0 or not self._publisher.connected

    async def kafka_ok(self) -> bool:
        """Readiness (degraded) check: Kafka takes events directly, nothing is spooled."""
        return not self.degraded

    async def drain_once(self) -> int:
        """One drain pass (see ``SpoolDrainer.drain_once``)."""
        return await self.drainer.drain_once()
