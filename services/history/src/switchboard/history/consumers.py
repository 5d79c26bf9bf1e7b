"""Kafka subscribers: decode CloudEvents → handler, in batches. Offsets are committed only
after the batch is durably written (NACK_ON_ERROR rewinds the batch so it is read again).

A batch is tried whole, with bounded retries. A retryable failure that outlasts them (the
database is down) fails the batch: nothing is committed and it is read again after a pause,
so an outage never fills the dead-letter topic. A permanent failure means some record is bad:
the batch is then handled record by record with ``handle_or_dead_letter``, so only the bad
records go to ``<topic>.dlq`` and the rest are stored.
"""

import asyncio
import functools
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

import structlog
from aiokafka import ConsumerRecord
from faststream import AckPolicy
from faststream.kafka import KafkaRouter
from faststream.kafka.annotations import KafkaMessage

from switchboard.common.errors import InvalidEventError, RetryableError
from switchboard.common.events import EVENT_TYPES, Event, decode
from switchboard.common.kafka import RetryPolicy, call_with_retries, handle_or_dead_letter
from switchboard.common.topics import CALL_EVENTS, MESSAGE_INBOUND, MESSAGE_OUTBOUND, MESSAGE_STATUS
from switchboard.history.handlers import handle_call_events, handle_message_events
from switchboard.history.repository import HistoryStore
from switchboard.history.settings import HistorySettings

log = structlog.get_logger(__name__)
MESSAGE_TOPICS = (MESSAGE_INBOUND, MESSAGE_STATUS, MESSAGE_OUTBOUND)
TOPICS = (CALL_EVENTS, *MESSAGE_TOPICS)
Handler = Callable[[Sequence[Event], HistoryStore, str], Awaitable[int]]


class DeadLetterSink(Protocol):
    """Where records that cannot be stored go (``DeadLetters`` in production)."""

    async def send(self, record: Any, error: BaseException, attempts: int) -> None: ...


def records_of(message: KafkaMessage) -> list["ConsumerRecord[bytes, bytes]"]:
    raw = message.raw_message
    return list(raw) if isinstance(raw, tuple) else [raw]


class BatchProcessor:
    """Decodes a batch, stores it whole, and on a permanent failure isolates the bad records."""

    def __init__(
        self,
        store: HistoryStore,
        settings: HistorySettings,
        dead_letters: DeadLetterSink,
        *,
        policy: RetryPolicy | None = None,
    ) -> None:
        self._store = store
        self._tenant = settings.default_tenant
        self._group = settings.consumer.group_id
        self._policy = policy or settings.retry
        self._dead = dead_letters

    def _decode(
        self, records: Sequence["ConsumerRecord[bytes, bytes]"]
    ) -> tuple[
        list[tuple["ConsumerRecord[bytes, bytes]", Event]],
        list[tuple["ConsumerRecord[bytes, bytes]", InvalidEventError]],
    ]:
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

    async def process(
        self, records: Sequence["ConsumerRecord[bytes, bytes]"], handler: Handler
    ) -> None:
        decoded, invalid = self._decode(records)
        if decoded:
            await self._store_batch(decoded, handler)
        for record, error in invalid:  # known type, invalid data: retrying cannot fix it
            await self._dead.send(record, error, 1)

    async def _store_batch(
        self, decoded: list[tuple["ConsumerRecord[bytes, bytes]", Event]], handler: Handler
    ) -> None:
        events = [e for _, e in decoded]
        try:
            await call_with_retries(
                functools.partial(handler, events, self._store, self._tenant), self._policy
            )
            return
        except RetryableError:
            raise  # the whole batch is read again: an outage, not a bad record
        except Exception as exc:  # noqa: BLE001 - some record is bad: find which one(s)
            log.warning("batch failed permanently; storing record by record", error=repr(exc))
        for record, event in decoded:
            await handle_or_dead_letter(
                record,
                functools.partial(handler, [event], self._store, self._tenant),
                self._policy,
                self._dead,
                group=self._group,
            )


def create_router(processor: BatchProcessor, settings: HistorySettings) -> KafkaRouter:
    """One subscriber for the four topics (one consumer, one group: no rebalances between
    sibling subscribers); each batch is split by topic, calls first."""
    router = KafkaRouter()
    c = settings.consumer

    @router.subscriber(
        *TOPICS,
        group_id=c.group_id,
        batch=True,
        max_records=c.max_records,
        batch_timeout_ms=c.batch_timeout_ms,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.NACK_ON_ERROR,
    )
    async def on_events(message: KafkaMessage) -> None:
        records = records_of(message)
        calls = [r for r in records if r.topic == CALL_EVENTS]
        messages = [r for r in records if r.topic != CALL_EVENTS]
        try:
            # A retryable failure of either part re-reads the whole batch; the part already
            # stored is stored again as a no-op (idempotent).
            if calls:
                await processor.process(calls, handle_call_events)
            if messages:
                await processor.process(messages, handle_message_events)
        except RetryableError:
            log.exception("batch failed; it will be read again")
            await asyncio.sleep(c.retry_pause_s)  # no hot loop while the database is down
            raise

    return router
