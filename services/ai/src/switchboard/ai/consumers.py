"""The ``message.inbound`` subscriber: conversations concurrently, each one in order, none
holding back the others.

Records are queued per Kafka key (the conversation) by ``common.kafka.KeyedSubscription``:
a conversation's messages are handled one at a time in order, up to ``consumer.concurrency``
messages at once across conversations, and the next batch is read while these are handled.
Offsets are committed (every ``consumer.commit_interval_s``, on a rebalance and at shutdown) up
to the first message not yet done.

Every record goes through ``handle_or_dead_letter``: bounded retries, then
``message.inbound.dlq`` only for a record that can never succeed (not a valid event, a
``PermanentError`` such as a reply the provider rejects for good). A retryable failure past the
retries — an outage (MongoDB, Redis, the broker), or the provider refusing this conversation
for now (Meta's per-recipient limit 131056, a 5xx for this message) — is never dead-lettered:
that conversation waits and tries the message again after a pause that doubles while it lasts
(``consumer.retry_pause_s`` … ``max_retry_pause_s``), and the other conversations go on. An
outage makes every conversation wait: the buffer fills and fetching pauses (the consumer is
stalled, nothing committed past the first message not done). The reply ledger makes the
second try, and a redelivery after a crash, safe: a message already answered is a duplicate.
"""

from collections.abc import Awaitable, Callable

from aiokafka import ConsumerRecord
from faststream import AckPolicy
from faststream.kafka import KafkaRouter
from faststream.kafka.annotations import KafkaMessage

from switchboard.ai.settings import ConsumerSettings
from switchboard.common.events import Event, decode
from switchboard.common.kafka import (
    DeadLetterSink,
    KeyedSubscription,
    RetryPolicy,
    handle_or_dead_letter,
    records_of,
    undecoded,
)
from switchboard.common.topics import MESSAGE_INBOUND

Handler = Callable[[Event], Awaitable[object]]
RecordHandler = Callable[["ConsumerRecord[bytes, bytes]"], Awaitable[object]]


def record_handler(
    handler: Handler, dead_letters: DeadLetterSink, policy: RetryPolicy, *, group: str
) -> RecordHandler:
    """One record: decoded and handled with bounded retries; dead-lettered only when it can
    never succeed; a retryable failure past the retries is raised (the key tries again)."""

    async def handle(record: "ConsumerRecord[bytes, bytes]") -> bool:
        async def attempt() -> object:
            return await handler(decode(record.headers or (), record.value or b""))

        return await handle_or_dead_letter(record, attempt, policy, dead_letters, group=group)

    return handle


def keyed_subscription(
    handler: Handler, dead_letters: DeadLetterSink, settings: ConsumerSettings
) -> KeyedSubscription:
    return KeyedSubscription(
        record_handler(handler, dead_letters, settings.retry, group=settings.group_id),
        group=settings.group_id,
        concurrency=settings.concurrency,
        max_buffered=settings.max_buffered,
        max_uncommitted=settings.max_uncommitted,
        commit_interval_s=settings.commit_interval_s,
        revoke_timeout_s=settings.revoke_timeout_s,
        retry_pause_s=settings.retry_pause_s,
        max_retry_pause_s=settings.max_retry_pause_s,
    )


def create_router(
    handler: Handler,
    dead_letters: DeadLetterSink,
    settings: ConsumerSettings,
    topic: str = MESSAGE_INBOUND,
) -> tuple[KafkaRouter, KeyedSubscription]:
    """The AI subscriber bound to ``handler``, and its subscription (stop it before the
    broker: it finishes what is in flight and commits)."""
    router = KafkaRouter()
    subscription = keyed_subscription(handler, dead_letters, settings)

    @router.subscriber(
        topic,
        group_id=settings.group_id,
        batch=True,
        max_records=settings.max_records,
        batch_timeout_ms=settings.batch_timeout_ms,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.MANUAL,  # offsets are committed by the subscription
        listener=subscription.listener,
        decoder=undecoded,
    )
    async def on_inbound(message: KafkaMessage) -> None:
        await subscription.on_batch(message.consumer, records_of(message))

    return router, subscription
