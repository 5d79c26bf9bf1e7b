"""Kafka subscribers: decode CloudEvents → handler. Offsets are committed only after the
batch is durably written (NACK_ON_ERROR rewinds the batch so it is read again)."""

import asyncio

import structlog
from faststream import AckPolicy
from faststream.kafka import KafkaRouter
from faststream.kafka.annotations import KafkaMessage

from switchboard.common.errors import InvalidEventError, RetryableError
from switchboard.common.events import Event, decode
from switchboard.common.topics import CALL_EVENTS
from switchboard.history.handlers import handle_call_events
from switchboard.history.repository import CallStore
from switchboard.history.settings import HistorySettings

log = structlog.get_logger(__name__)
RETRY_PAUSE_S = 1.0


def decode_batch(message: KafkaMessage) -> list[Event]:
    """Every valid event of a batch; invalid ones are logged and skipped (never retried)."""
    raw = message.raw_message
    records = raw if isinstance(raw, tuple) else (raw,)
    events: list[Event] = []
    for record in records:
        try:
            events.append(decode(record.headers, record.value))
        except InvalidEventError as exc:
            log.error(
                "invalid event skipped",
                topic=record.topic,
                partition=record.partition,
                offset=record.offset,
                error=str(exc),
            )
    return events


def create_router(store: CallStore, settings: HistorySettings) -> KafkaRouter:
    """The history subscribers, bound to ``store``."""
    router = KafkaRouter()

    @router.subscriber(
        CALL_EVENTS,
        group_id=settings.consumer.group_id,
        batch=True,
        max_records=settings.consumer.max_records,
        batch_timeout_ms=settings.consumer.batch_timeout_ms,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.NACK_ON_ERROR,
    )
    async def on_call_events(message: KafkaMessage) -> None:
        try:
            await handle_call_events(decode_batch(message), store, settings.default_tenant)
        except RetryableError:
            log.exception("call events batch failed; will be read again")
            await asyncio.sleep(RETRY_PAUSE_S)  # no hot loop while the database is down
            raise

    return router
