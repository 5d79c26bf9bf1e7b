"""Kafka subscribers. ``call.events`` and ``message.inbound`` are read by one consumer in the
shared group (every event handled once, bounded retries then ``<topic>.dlq``);
``dial.commands`` by a group per replica, so every replica hears every command."""

from collections.abc import Callable

import structlog
from faststream import AckPolicy
from faststream.kafka import KafkaBroker, KafkaRouter
from faststream.kafka.annotations import KafkaMessage

from switchboard.common.errors import InvalidEventError
from switchboard.common.events import Event, decode
from switchboard.common.kafka import DeadLetters, RetryPolicy, process_record
from switchboard.common.topics import CALL_EVENTS, DIAL_COMMANDS, MESSAGE_INBOUND
from switchboard.dialer.adapters.postgres_dialing import PostgresDialingStore
from switchboard.dialer.dialing import Clock
from switchboard.dialer.handlers import handle_call_event, handle_command, handle_message
from switchboard.dialer.repository import CallPlacer, Pacer
from switchboard.dialer.settings import DialerSettings

log = structlog.get_logger(__name__)
DEFAULT_TENANT = "default"


def create_router(
    settings: DialerSettings,
    broker: KafkaBroker,
    store: PostgresDialingStore,
    pacer: Pacer,
    placer: CallPlacer,
    clock: Clock,
    wake: Callable[[], None],
    commands_group: str,
) -> KafkaRouter:
    router = KafkaRouter()
    group = settings.consumer.group_id
    dead_letters = DeadLetters(broker, group)
    policy = RetryPolicy()

    async def on_call_event(event: Event) -> None:
        await handle_call_event(event, store, pacer, placer, clock())

    async def on_message(event: Event) -> None:
        await handle_message(event, store, settings.opt_out_keywords, DEFAULT_TENANT)

    handlers = {CALL_EVENTS: on_call_event, MESSAGE_INBOUND: on_message}

    # One subscriber (one consumer) for both topics: two consumers in one group would make
    # every start or stop of either rebalance both.
    @router.subscriber(
        CALL_EVENTS,
        MESSAGE_INBOUND,
        group_id=group,
        auto_offset_reset=settings.consumer.auto_offset_reset,
        ack_policy=AckPolicy.NACK_ON_ERROR,
    )
    async def on_record(message: KafkaMessage) -> None:
        record = message.raw_message
        handle = handlers[record.topic]  # type: ignore[union-attr]
        await process_record(record, handle, policy, dead_letters, group=group)

    @router.subscriber(
        DIAL_COMMANDS,
        group_id=commands_group,
        auto_offset_reset="latest",
        ack_policy=AckPolicy.ACK,
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
