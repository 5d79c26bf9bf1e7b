"""Bounded retries, then either the dead-letter topic or a stalled consumer; and the replay.

FastStream has no retry topics or DLQ for Kafka, so every consumer uses this one piece:

    await handle_or_dead_letter(record, lambda: handler(event), policy, dead_letters)

The rule: **dead letters are only for records that can never succeed.**

- ``RetryableError`` (a datastore or the broker is down, a timeout) is retried with
  exponential backoff and jitter (tenacity) up to ``policy.attempts``. One that outlasts them
  is *not* the record's fault and is not dead-lettered: it propagates, so the caller's batch
  fails, its offsets are not committed and it is read again after a pause
  (``switchboard.common.kafka.stall``) — an outage stalls the consumer until the datastore is
  back, and nothing is set aside.
- ``PermanentError`` (invalid data, a reply the provider will never accept), a record that is
  not a valid event, or any error that is not ours (a bug) goes to ``<topic>.dlq`` at once.

So a ``RetryableError`` must mean "a later attempt may succeed": an adapter that calls a
data-caused failure retryable stalls its consumer on that record (visible as
``switchboard_consumer_stalled``) instead of dead-lettering it.

The dead letter keeps the original key, value and headers, and adds ``x-dlq-*`` headers saying
why, where from and after how many attempts.
"""

import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final, Protocol

import structlog
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from faststream.kafka import KafkaBroker
from opentelemetry import trace
from opentelemetry.trace import Span
from prometheus_client import Counter

from switchboard.common.errors import InvalidEventError, PermanentError, RetryableError
from switchboard.common.events.envelope import Event, KafkaRecord, decode
from switchboard.common.kafka.broker import create_broker, publish_record
from switchboard.common.kafka.tracing import consumer_span, fail_span
from switchboard.common.metrics import start_at_zero
from switchboard.common.retry import RetryPolicy, call_with_retries
from switchboard.common.settings import KafkaSettings
from switchboard.common.topics import dlq

log = structlog.get_logger(__name__)

H_ERROR: Final = "x-dlq-error"
H_ERROR_TYPE: Final = "x-dlq-error-type"
H_ATTEMPTS: Final = "x-dlq-attempts"
H_TOPIC: Final = "x-dlq-original-topic"
H_PARTITION: Final = "x-dlq-original-partition"
H_OFFSET: Final = "x-dlq-original-offset"
H_GROUP: Final = "x-dlq-consumer-group"
H_FAILED_AT: Final = "x-dlq-failed-at"
MAX_ERROR_CHARS: Final = 2000

RETRIES = Counter(
    "switchboard_consumer_retries_total", "Retried handler attempts.", ["topic", "group"]
)
DEAD_LETTERS = Counter(
    "switchboard_dlq_messages_total",
    "Messages sent to a dead-letter topic.",
    ["topic", "group", "reason"],
)
"""``reason``: ``permanent`` (a ``PermanentError``, an invalid event) or ``error`` (an error
that is not ours, e.g. a bug)."""


class DeadLetterSink(Protocol):
    """Where records that cannot be handled go (``DeadLetters``, or a fake in tests)."""

    async def send(
        self, record: "ConsumerRecord[bytes, bytes]", error: BaseException, attempts: int
    ) -> None: ...


DEAD_LETTER_REASONS: Final = ("permanent", "error")


class DeadLetters:
    """Publishes failed records to ``<topic>.dlq`` through an acks=all producer.

    ``topics`` are the ones the group consumes: their dead-letter and retry counts are exported
    at 0 from the start (``common.metrics``): without them a process's first dead letter would
    never fire ``SwitchboardDeadLetters``.
    """

    def __init__(
        self,
        broker: KafkaBroker,
        group: str,
        *,
        topics: Sequence[str] = (),
        timeout_s: float = 10.0,
    ) -> None:
        self._broker = broker
        self._group = group
        self._timeout_s = timeout_s
        start_at_zero(DEAD_LETTERS, [(t, group, r) for t in topics for r in DEAD_LETTER_REASONS])
        start_at_zero(RETRIES, [(t, group) for t in topics])

    async def send(
        self, record: "ConsumerRecord[bytes, bytes]", error: BaseException, attempts: int
    ) -> None:
        headers = {k: v for k, v in (record.headers or ()) if not k.startswith("x-dlq-")}
        headers.update(
            {
                H_ERROR: str(error)[:MAX_ERROR_CHARS].encode(),
                H_ERROR_TYPE: type(error).__name__.encode(),
                H_ATTEMPTS: str(attempts).encode(),
                H_TOPIC: record.topic.encode(),
                H_PARTITION: str(record.partition).encode(),
                H_OFFSET: str(record.offset).encode(),
                H_GROUP: self._group.encode(),
                H_FAILED_AT: datetime.now(UTC).isoformat().encode(),
            }
        )
        await publish_record(
            self._broker,
            dlq(record.topic),
            KafkaRecord(key=record.key, value=record.value or b"", headers=headers),
            timeout_s=self._timeout_s,
        )
        reason = DEAD_LETTER_REASONS[0 if isinstance(error, PermanentError) else 1]
        DEAD_LETTERS.labels(record.topic, self._group, reason).inc()
        log.error(
            "message dead-lettered",
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            attempts=attempts,
            error=str(error)[:300],
            error_type=type(error).__name__,
        )


async def handle_or_dead_letter(
    record: "ConsumerRecord[bytes, bytes]",
    fn: Callable[[], Awaitable[Any]],
    policy: RetryPolicy,
    dead_letters: DeadLetterSink,
    *,
    group: str = "",
    traced: bool = True,
) -> bool:
    """Run ``fn`` for ``record``; True when it succeeded, False when it was dead-lettered.

    A ``RetryableError`` that outlasts ``policy`` propagates (never dead-lettered): the caller
    fails its batch so the record is read again. A ``PermanentError`` or any other error sends
    the record to ``<topic>.dlq`` at once. A failure to publish the dead letter itself
    propagates too, so the offset is not committed.
    With ``traced`` (the default) the work runs in a ``CONSUMER`` span continuing the record's
    ``traceparent`` (when sampled); ``traced=False`` is for callers whose current span is the
    record's already (a dead letter marks that one failed).
    """
    with structlog.contextvars.bound_contextvars(**log_context(record)):
        if not traced:  # the caller's current span (if any) is the record's
            current = trace.get_current_span()
            return await _handle_or_dead_letter(record, fn, policy, dead_letters, group, current)
        with consumer_span(record, group) as span:
            return await _handle_or_dead_letter(record, fn, policy, dead_letters, group, span)


_LOG_KEYS: Final = {"ce_id": "event_id", "ce_type": "event_type", "ce_tenant": "tenant"}


def log_context(record: "ConsumerRecord[bytes, bytes]") -> dict[str, str]:
    """The event's id, type and tenant from the record's CloudEvents headers, for every line
    logged while it is handled (read from the headers: known even for an undecodable value)."""
    return {
        _LOG_KEYS[name]: value.decode("utf-8", "replace")
        for name, value in record.headers or ()
        if name in _LOG_KEYS
    }


async def _handle_or_dead_letter(
    record: "ConsumerRecord[bytes, bytes]",
    fn: Callable[[], Awaitable[Any]],
    policy: RetryPolicy,
    dead_letters: DeadLetterSink,
    group: str,
    span: Span | None,
) -> bool:
    def count_retry(_: BaseException) -> None:
        RETRIES.labels(record.topic, group).inc()

    try:
        await call_with_retries(fn, policy, on_retry=count_retry)
    except RetryableError:
        # An outage, not a bad record: the caller's batch fails and is read again later (the
        # record's span is marked failed by the span's own context on the way out).
        raise
    except Exception as exc:  # noqa: BLE001 - anything not retryable is dead-lettered at once
        fail_span(span, exc, dead_lettered=True)
        await dead_letters.send(record, exc, 1)
        return False
    return True


async def process_record(
    record: "ConsumerRecord[bytes, bytes]",
    handler: Callable[[Event], Awaitable[Any]],
    policy: RetryPolicy,
    dead_letters: DeadLetterSink,
    *,
    group: str = "",
) -> bool:
    """Decode ``record`` and run ``handler`` on the event with retries; a record that is not a
    valid event, or whose handler fails permanently, goes to ``<topic>.dlq`` (False). True when
    handled. A ``RetryableError`` that outlasts the retries propagates, as in
    ``handle_or_dead_letter``, which this traces like."""
    with consumer_span(record, group) as span:
        try:
            event = decode(record.headers or (), record.value or b"")
        except InvalidEventError as exc:
            fail_span(span, exc, dead_lettered=True)
            await dead_letters.send(record, exc, 1)
            return False

        async def handle() -> None:
            await handler(event)

        return await _handle_or_dead_letter(record, handle, policy, dead_letters, group, span)


def original_headers(headers: Mapping[str, bytes]) -> dict[str, bytes]:
    """The headers a dead letter had before it failed."""
    return {k: v for k, v in headers.items() if not k.startswith("x-dlq-")}


async def replay_dead_letters(
    settings: KafkaSettings,
    topic: str,
    *,
    group: str,
    limit: int | None = None,
    idle_timeout_s: float = 5.0,
) -> int:
    """Re-publish what ``<topic>.dlq`` holds now to the original topic; returns the count.

    A consumer group of its own (``<group>-dlq-replay``) remembers what was replayed, so a
    second run does not send the same dead letters again. Stops at the end offsets seen at
    start (letters that fail again during the replay are left for the next run).
    """
    source = dlq(topic)
    consumer = AIOKafkaConsumer(
        source,
        bootstrap_servers=settings.bootstrap_servers,
        group_id=f"{group}-dlq-replay",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    broker = create_broker(settings)
    await broker.connect()
    await consumer.start()
    replayed = 0
    try:
        end: dict[TopicPartition, int] = {}
        deadline = time.monotonic() + idle_timeout_s
        while not consumer.assignment() and time.monotonic() < deadline:
            await consumer.getmany(timeout_ms=200)  # join the group; nothing is committed yet
        assigned = consumer.assignment()
        if assigned:
            end = await consumer.end_offsets(list(assigned))
        for tp in assigned:
            committed = await consumer.committed(tp)
            consumer.seek(tp, committed if committed is not None else 0)
        pending = {tp for tp in assigned if await consumer.position(tp) < end[tp]}
        while pending and (limit is None or replayed < limit):
            batch = await consumer.getmany(*pending, timeout_ms=1000)
            if not batch:
                break
            for tp, records in batch.items():
                for record in records:
                    if record.offset >= end[tp] or (limit is not None and replayed >= limit):
                        continue
                    headers = dict(record.headers or ())
                    target = headers.get(H_TOPIC, topic.encode()).decode()
                    await publish_record(
                        broker,
                        target,
                        KafkaRecord(record.key, record.value or b"", original_headers(headers)),
                        timeout_s=settings.publish_timeout_s * 2,
                    )
                    replayed += 1
                    await consumer.commit({tp: record.offset + 1})
                if await consumer.position(tp) >= end[tp]:
                    pending.discard(tp)
    finally:
        await consumer.stop()
        await broker.stop()
    log.info("dead letters replayed", topic=topic, count=replayed)
    return replayed
