"""Batch consumption: a FastStream batch of records → decoded events → one handler call per
group of topics. Offsets are committed only after the whole batch was handled (subscribe
with ``AckPolicy.NACK_ON_ERROR``: an exception rewinds the batch so it is read again).

A batch is tried whole, with bounded retries. A retryable failure that outlasts them (a
datastore is down) fails the batch: nothing is committed and it is read again after a pause
that grows while the outage lasts (``stall.Stall``), so an outage stalls the consumer and
never fills the dead-letter topic. A permanent failure means some record is bad: the batch is
then handled record by record with ``handle_or_dead_letter``, so only the records that fail
permanently go to ``<topic>.dlq`` and the rest are handled; an outage that starts meanwhile
fails the batch as above (records dead-lettered before it may be dead-lettered again when the
batch is read again: a replay drops the duplicate by event id).

Tracing: each record whose ``traceparent`` is sampled gets a ``CONSUMER`` span
(``process <topic>``) whose parent is that record's remote context, open while its batch is
handled (see ``switchboard.common.kafka.tracing``).
"""

import asyncio
import contextlib
import functools
from collections.abc import Awaitable, Callable, Collection, Sequence
from typing import Any, TypeAlias

import structlog
from aiokafka import ConsumerRecord
from faststream.kafka.annotations import KafkaMessage
from faststream.message import StreamMessage
from opentelemetry import trace
from opentelemetry.trace import Span

from switchboard.common.errors import InvalidEventError, RetryableError
from switchboard.common.events import EVENT_TYPES, Event, decode
from switchboard.common.kafka.dlq import DeadLetterSink, handle_or_dead_letter
from switchboard.common.kafka.stall import INITIAL_PAUSE_S, MAX_PAUSE_S, Sleep, Stall
from switchboard.common.kafka.tracing import batch_spans, fail_span
from switchboard.common.retry import RetryPolicy, call_with_retries

log = structlog.get_logger(__name__)

Record: TypeAlias = "ConsumerRecord[bytes, bytes]"
BatchHandler = Callable[[Sequence[Event]], Awaitable[Any]]
Route = tuple[Collection[str], BatchHandler]
"""Topics whose records one handler takes, together, in one call."""


async def undecoded(message: StreamMessage[Any]) -> Any:
    """Every subscriber's ``decoder=``: the bodies as they came. Handlers decode the records
    themselves (``records_of``; a record that is not an event is dead-lettered there). FastStream's
    default ``json.loads`` of each body ran before the handler, so one record with a JSON
    content-type that was not JSON failed its batch every time it was read: the consumer stalled
    for good behind it (and every body was parsed twice)."""
    return message.body


def records_of(message: KafkaMessage) -> list[Record]:
    """The records of a FastStream message (a batch subscriber's, or a single one's)."""
    raw = message.raw_message
    return list(raw) if isinstance(raw, tuple) else [raw]


class BatchProcessor:
    """Decodes a batch, handles it whole, and on a permanent failure isolates the bad records."""

    def __init__(
        self,
        dead_letters: DeadLetterSink,
        policy: RetryPolicy,
        *,
        group: str,
        retry_pause_s: float = INITIAL_PAUSE_S,
        max_retry_pause_s: float = MAX_PAUSE_S,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._dead = dead_letters
        self._policy = policy
        self._group = group
        self._stall = Stall(group, initial_s=retry_pause_s, max_s=max_retry_pause_s, sleep=sleep)

    async def process_routes(self, records: Sequence[Record], routes: Sequence[Route]) -> None:
        """Each route's records to its handler, in the routes' order. A retryable failure of
        any part re-reads the whole batch (after a pause that grows while failures last; no
        hot loop while a datastore is down), so handlers must be idempotent."""
        async with self._stall.guard():
            for topics, handler in routes:
                part = [r for r in records if r.topic in topics]
                if part:
                    await self.process(part, handler)

    async def process(self, records: Sequence[Record], handler: BatchHandler) -> None:
        """Handle ``records`` in one ``handler`` call; each record with a sampled
        ``traceparent`` gets a ``CONSUMER`` span under it for the time the batch takes."""
        with batch_spans(records, self._group) as spans:
            decoded, invalid = decode_records(records)
            if decoded:
                await self._handle(decoded, handler, spans)
            for record, error in invalid:  # known type, invalid data: retrying cannot fix it
                fail_span(spans.get(id(record)), error, dead_lettered=True)
                await self._dead.send(record, error, 1)

    async def _handle(
        self, decoded: list[tuple[Record, Event]], handler: BatchHandler, spans: dict[int, Span]
    ) -> None:
        events = [e for _, e in decoded]
        try:
            await call_with_retries(functools.partial(handler, events), self._policy)
            return
        except RetryableError:
            raise  # the whole batch is read again: an outage, not a bad record
        except Exception as exc:  # noqa: BLE001 - some record is bad: find which one(s)
            log.warning("batch failed permanently; handling record by record", error=repr(exc))
        for record, event in decoded:
            span = spans.get(id(record))
            # The record's span is current while it is handled alone: what the handler
            # publishes continues its trace, and a dead letter marks it failed.
            with trace.use_span(span) if span is not None else contextlib.nullcontext():
                await handle_or_dead_letter(
                    record,
                    functools.partial(handler, [event]),
                    self._policy,
                    self._dead,
                    group=self._group,
                    traced=False,
                )


def decode_records(
    records: Sequence[Record],
) -> tuple[list[tuple[Record, Event]], list[tuple[Record, InvalidEventError]]]:
    """(decoded, invalid); records of an event type this version does not know are skipped."""
    decoded = []
    invalid = []
    for record in records:
        headers = dict(record.headers or ())
        ce_type = headers.get("ce_type", b"").decode(errors="replace")
        if ce_type not in EVENT_TYPES:
            log.warning(
                "unknown event type skipped",
                topic=record.topic,
                type=ce_type,
                partition=record.partition,
                offset=record.offset,
            )
            continue
        try:
            decoded.append((record, decode(record.headers or (), record.value or b"")))
        except InvalidEventError as exc:
            invalid.append((record, exc))
    return decoded, invalid
