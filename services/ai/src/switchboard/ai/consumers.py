"""The ``message.inbound`` subscriber: batches, in order per conversation, concurrent across them.

Records of one batch are grouped by Kafka key (the conversation); each group runs in order,
groups run concurrently up to ``consumer.concurrency``. Every record goes through
``handle_or_dead_letter``: bounded retries, then ``message.inbound.dlq`` only for a record that
can never succeed (not a valid event, a ``PermanentError`` such as a reply the provider
rejects). An outage (MongoDB, Redis, the broker or the provider's send failing retryably past
the retries) stops that conversation where it is, lets the other conversations finish, and then
fails the batch: nothing is committed, and after a pause that grows while the outage lasts
(``common.kafka.Stall``) the batch is read again. The reply ledger makes the second reading
safe: messages already answered are duplicates and are not answered again.
"""

import asyncio
from collections import defaultdict
from collections.abc import Awaitable, Callable

import structlog
from aiokafka import ConsumerRecord
from faststream import AckPolicy
from faststream.kafka import KafkaRouter
from faststream.kafka.annotations import KafkaMessage

from switchboard.ai.settings import ConsumerSettings
from switchboard.common.events import Event, decode
from switchboard.common.kafka import DeadLetterSink, RetryPolicy, Stall, handle_or_dead_letter
from switchboard.common.topics import MESSAGE_INBOUND

log = structlog.get_logger(__name__)
Handler = Callable[[Event], Awaitable[object]]


async def process_records(
    records: list["ConsumerRecord[bytes, bytes]"],
    handler: Handler,
    dead_letters: DeadLetterSink,
    policy: RetryPolicy,
    *,
    concurrency: int,
    group: str,
) -> None:
    """Handle ``records``: per key in order, keys concurrently (bounded). When a conversation
    fails (an outage past the retries), the others still finish before the first failure is
    raised: none is left running while the batch is read again."""
    by_key: dict[bytes | None, list[ConsumerRecord[bytes, bytes]]] = defaultdict(list)
    for record in records:
        by_key[record.key].append(record)
    slots = asyncio.Semaphore(max(concurrency, 1))

    async def one(record: "ConsumerRecord[bytes, bytes]") -> None:
        async def attempt() -> object:
            return await handler(decode(record.headers or (), record.value or b""))

        await handle_or_dead_letter(record, attempt, policy, dead_letters, group=group)

    async def conversation(group_records: list["ConsumerRecord[bytes, bytes]"]) -> None:
        async with slots:
            for record in group_records:
                await one(record)

    outcomes = await asyncio.gather(
        *(conversation(rs) for rs in by_key.values()), return_exceptions=True
    )
    failures = [o for o in outcomes if isinstance(o, BaseException)]
    if failures:
        raise failures[0]


def create_router(
    handler: Handler,
    dead_letters: DeadLetterSink,
    settings: ConsumerSettings,
    topic: str = MESSAGE_INBOUND,
) -> KafkaRouter:
    """The AI subscriber, bound to ``handler``."""
    router = KafkaRouter()
    stall = Stall(
        settings.group_id,
        initial_s=settings.retry_pause_s,
        max_s=settings.max_retry_pause_s,
    )

    @router.subscriber(
        topic,
        group_id=settings.group_id,
        batch=True,
        max_records=settings.max_records,
        batch_timeout_ms=settings.batch_timeout_ms,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.NACK_ON_ERROR,
    )
    async def on_inbound(message: KafkaMessage) -> None:
        raw = message.raw_message
        records = list(raw) if isinstance(raw, tuple) else [raw]
        async with stall.guard():  # a failed batch: pause, then it is read again
            await process_records(
                records,
                handler,
                dead_letters,
                settings.retry,
                concurrency=settings.concurrency,
                group=settings.group_id,
            )

    return router
