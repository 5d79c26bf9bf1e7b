"""Kafka subscriber: the four topics in batches through ``common.kafka.BatchProcessor``
(offsets committed only after the batch is durably written; an outage stalls the consumer —
the batch is read again after a growing pause, never dead-lettered — and only a record that can
never be stored is isolated and dead-lettered). Each batch is split by topic, calls first."""

from collections.abc import Sequence

from faststream import AckPolicy
from faststream.kafka import KafkaRouter
from faststream.kafka.annotations import KafkaMessage

from switchboard.common.events import Event
from switchboard.common.kafka import BatchProcessor, DeadLetterSink, Route, records_of, undecoded
from switchboard.common.topics import CALL_EVENTS, MESSAGE_INBOUND, MESSAGE_OUTBOUND, MESSAGE_STATUS
from switchboard.history.handlers import handle_call_events, handle_message_events
from switchboard.history.repository import HistoryStore
from switchboard.history.settings import HistorySettings

MESSAGE_TOPICS = (MESSAGE_INBOUND, MESSAGE_STATUS, MESSAGE_OUTBOUND)
TOPICS = (CALL_EVENTS, *MESSAGE_TOPICS)


def batch_processor(settings: HistorySettings, dead_letters: DeadLetterSink) -> BatchProcessor:
    c = settings.consumer
    return BatchProcessor(
        dead_letters,
        settings.retry,
        group=c.group_id,
        retry_pause_s=c.retry_pause_s,
        max_retry_pause_s=c.max_retry_pause_s,
    )


def routes(store: HistoryStore, settings: HistorySettings) -> list[Route]:
    """Calls first, then the three message topics together. A retryable failure re-reads the
    whole batch; the part already stored is stored again as a no-op (idempotent)."""
    tenant = settings.default_tenant

    async def calls(events: Sequence[Event]) -> int:
        return await handle_call_events(events, store, tenant)

    async def messages(events: Sequence[Event]) -> int:
        return await handle_message_events(events, store, tenant)

    return [({CALL_EVENTS}, calls), (set(MESSAGE_TOPICS), messages)]


def create_router(
    processor: BatchProcessor, store: HistoryStore, settings: HistorySettings
) -> KafkaRouter:
    """One subscriber for the four topics (one consumer, one group: no rebalances between
    sibling subscribers)."""
    router = KafkaRouter()
    c = settings.consumer
    table = routes(store, settings)

    @router.subscriber(
        *TOPICS,
        group_id=c.group_id,
        batch=True,
        max_records=c.max_records,
        batch_timeout_ms=c.batch_timeout_ms,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.NACK_ON_ERROR,
        decoder=undecoded,
    )
    async def on_events(message: KafkaMessage) -> None:
        await processor.process_routes(records_of(message), table)

    return router
