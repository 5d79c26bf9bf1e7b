"""Kafka subscribers. ``call.events`` and ``message.inbound`` are read in batches by one
consumer in the shared group (every event handled once; offsets committed after the batch;
an outage past the bounded retries stalls the consumer — the batch is read again after a
growing pause — and only a record that can never succeed goes to ``<topic>.dlq``);
``dial.commands`` by a group per replica, so every replica hears every command."""

from collections.abc import Callable, Sequence

import structlog
from faststream import AckPolicy
from faststream.kafka import KafkaBroker, KafkaRouter
from faststream.kafka.annotations import KafkaMessage

from switchboard.common.errors import InvalidEventError
from switchboard.common.events import Event, decode
from switchboard.common.kafka import (
    BatchProcessor,
    DeadLetters,
    RetryPolicy,
    Route,
    records_of,
    undecoded,
)
from switchboard.common.topics import CALL_EVENTS, DIAL_COMMANDS, MESSAGE_INBOUND
from switchboard.dialer.handlers import handle_call_events, handle_command, handle_messages
from switchboard.dialer.models import Clock
from switchboard.dialer.repository import CallPlacer, DialingStore, DoNotCallList, Pacer
from switchboard.dialer.settings import DialerSettings

log = structlog.get_logger(__name__)


def create_router(
    settings: DialerSettings,
    broker: KafkaBroker,
    store: DialingStore,
    dnc: DoNotCallList,
    pacer: Pacer,
    placer: CallPlacer,
    clock: Clock,
    wake: Callable[[], None],
    commands_group: str,
) -> KafkaRouter:
    router = KafkaRouter()
    c = settings.consumer
    processor = BatchProcessor(
        DeadLetters(broker, c.group_id, topics=(CALL_EVENTS, MESSAGE_INBOUND)),
        RetryPolicy(),
        group=c.group_id,
        retry_pause_s=c.retry_pause_s,
    )

    async def on_call_events(batch: Sequence[Event]) -> None:
        await handle_call_events(batch, store, pacer, placer, clock())

    async def on_messages(batch: Sequence[Event]) -> None:
        await handle_messages(batch, dnc, settings.opt_out_keywords)

    routes: list[Route] = [({CALL_EVENTS}, on_call_events), ({MESSAGE_INBOUND}, on_messages)]

    # One batch subscriber (one consumer) for both topics: two consumers in one group would
    # make every start or stop of either rebalance both; batches keep up with call.events,
    # which carries every call's progress, not only the dialer's.
    @router.subscriber(
        CALL_EVENTS,
        MESSAGE_INBOUND,
        group_id=c.group_id,
        batch=True,
        max_records=c.max_records,
        batch_timeout_ms=c.batch_timeout_ms,
        fetch_min_bytes=c.fetch_min_bytes,
        fetch_max_wait_ms=c.batch_timeout_ms,
        auto_offset_reset=c.auto_offset_reset,
        ack_policy=AckPolicy.NACK_ON_ERROR,
        decoder=undecoded,
    )
    async def on_records(message: KafkaMessage) -> None:
        await processor.process_routes(records_of(message), routes)

    @router.subscriber(
        DIAL_COMMANDS,
        group_id=commands_group,
        auto_offset_reset="latest",
        ack_policy=AckPolicy.ACK,
        decoder=undecoded,
    )
    async def on_command(message: KafkaMessage) -> None:
        record = message.raw_message
        try:
            event = decode(record.headers, record.value)  # type: ignore[union-attr]
        except InvalidEventError as exc:
            log.error("invalid command skipped", error=str(exc))
            return
        handle_command(event, wake)

    return router
