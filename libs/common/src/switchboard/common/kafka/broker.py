"""FastStream Kafka broker factory and the acknowledged publishing every service needs around it."""

import asyncio
import logging
from collections.abc import Sequence
from typing import Any, Final

from aiokafka import AIOKafkaProducer
from aiokafka.errors import (
    CorruptRecordException,
    InvalidProducerEpoch,
    InvalidTimestampError,
    InvalidTopicError,
    KafkaError,
    MessageSizeTooLargeError,
    OutOfOrderSequenceNumber,
    ProducerFenced,
    RecordListTooLargeError,
    UnknownProducerId,
)
from faststream.exceptions import IncorrectState
from faststream.kafka import KafkaBroker

from switchboard.common.errors import PublishError, RecordRefused
from switchboard.common.events.envelope import KafkaRecord
from switchboard.common.kafka.partitioner import partition_for
from switchboard.common.settings import KafkaSettings
from switchboard.common.telemetry import TRACEPARENT, inject_headers


def create_broker(settings: KafkaSettings, *, middlewares: Sequence[Any] = ()) -> KafkaBroker:
    """A broker whose producer is idempotent, waits for every in-sync replica (acks=all) and
    refuses records over ``settings.max_record_bytes`` before sending them."""
    return KafkaBroker(
        settings.brokers,  # a list: FastStream would take "a:9092,b:9092" for one host
        client_id=settings.client_id,
        request_timeout_ms=settings.request_timeout_ms,
        acks="all",
        enable_idempotence=True,
        max_request_size=settings.max_record_bytes,
        middlewares=tuple(middlewares),
        # Per-message "Received"/"Processed" lines at DEBUG: at thousands of messages a second
        # they cost CPU and bury what matters. Failures are still logged at ERROR.
        log_level=logging.DEBUG,
        # A plain standard logger: its records go through the process's structlog handler
        # (FastStream's default logger brings its own coloured text handler).
        logger=logging.getLogger("faststream.kafka"),
    )


def create_producer(settings: KafkaSettings) -> AIOKafkaProducer:
    """A bare aiokafka producer with the same guarantees (acks=all, idempotent), for the hot
    path of the ingress, where FastStream's per-publish chain costs more than the send."""
    return AIOKafkaProducer(
        bootstrap_servers=settings.bootstrap_servers,
        client_id=settings.client_id,
        request_timeout_ms=settings.request_timeout_ms,
        acks="all",
        enable_idempotence=True,
        max_request_size=settings.max_record_bytes,
        partitioner=partition_for,
    )


async def send_records(
    producer: AIOKafkaProducer, records: Sequence[tuple[str, KafkaRecord]], *, timeout_s: float
) -> None:
    """Queue every record in order, then wait for all acks; PublishError unless all arrive.
    Inside an active span, records without trace context get its ``traceparent``."""
    trace_headers = (
        [(k, v.encode()) for k, v in inject_headers().items()]
        if any(TRACEPARENT not in r.headers for _, r in records)
        else []
    )
    acks: list[asyncio.Future[Any]] = []
    try:
        async with asyncio.timeout(timeout_s):
            for topic, r in records:
                acks.append(
                    await producer.send(
                        topic, r.value, key=r.key, headers=_headers(r.headers, trace_headers)
                    )
                )
            # In order, without gather: one wake-up per request instead of a gathering
            # future's callbacks (this is the ingress's hot path).
            for ack in acks:
                await ack
    except (KafkaError, TimeoutError, OSError) as exc:
        for ack in acks:  # their outcome no longer matters: keep asyncio from logging it
            ack.add_done_callback(_ignore_outcome)
        raise PublishError(f"publish of {len(records)} record(s) failed: {exc!r}") from exc


_REFUSALS: Final = (
    MessageSizeTooLargeError,  # by the producer (max_request_size) or the broker
    RecordListTooLargeError,
    CorruptRecordException,
    InvalidTopicError,
    InvalidTimestampError,
)
"""Errors about the record itself: no retry can succeed (anything else may be the broker)."""

SendOutcome = PublishError | RecordRefused | None
"""Per record: None (acked), RecordRefused, or PublishError (may succeed later)."""


async def send_each(
    producer: AIOKafkaProducer, records: Sequence[tuple[str, KafkaRecord]], *, timeout_s: float
) -> list[SendOutcome]:
    """Queue every record in order, then wait for their acks; the outcome of each, so that a
    record that fails does not hide the ones that went through (the ingress spool's drainer
    sets aside what can never be published and keeps the rest moving)."""
    outcomes: list[SendOutcome] = [PublishError("not sent before the deadline")] * len(records)
    acks: list[tuple[int, asyncio.Future[Any]]] = []
    try:
        async with asyncio.timeout(timeout_s):
            for n, (topic, r) in enumerate(records):
                try:
                    ack = await producer.send(
                        topic, r.value, key=r.key, headers=[*r.headers.items()]
                    )
                except (KafkaError, OSError) as exc:  # refused before sending (e.g. too large)
                    outcomes[n] = _outcome_of(exc)
                else:
                    acks.append((n, ack))
            for n, ack in acks:
                try:
                    await ack
                except (KafkaError, OSError) as exc:
                    outcomes[n] = _outcome_of(exc)
                else:
                    outcomes[n] = None
    except TimeoutError:
        for _, ack in acks:  # their outcome no longer matters: keep asyncio from logging it
            ack.add_done_callback(_ignore_outcome)
    return outcomes


def _outcome_of(exc: BaseException) -> PublishError | RecordRefused:
    if isinstance(exc, _REFUSALS):
        return RecordRefused(f"refused: {exc!r}")
    error = PublishError(f"publish failed: {exc!r}")
    error.__cause__ = exc
    return error


_PRODUCER_STATE: Final = (
    OutOfOrderSequenceNumber,
    UnknownProducerId,
    InvalidProducerEpoch,
    ProducerFenced,
)
"""The brokers no longer accept this producer's idempotence state (its id and sequence numbers),
e.g. after every broker was down: each later send fails the same way until a new producer
(a new producer id) is made."""


def needs_new_producer(error: BaseException | None) -> bool:
    """``error`` (a PublishError or what caused it) says the producer's state is stale."""
    while error is not None:
        if isinstance(error, _PRODUCER_STATE):
            return True
        error = error.__cause__
    return False


def _ignore_outcome(ack: "asyncio.Future[Any]") -> None:
    if not ack.cancelled():
        ack.exception()


def _headers(
    headers: dict[str, bytes], trace_headers: list[tuple[str, bytes]]
) -> list[tuple[str, bytes]]:
    if trace_headers and TRACEPARENT not in headers:
        return [*headers.items(), *trace_headers]
    return list(headers.items())


async def publish_record(
    broker: KafkaBroker, topic: str, record: KafkaRecord, *, timeout_s: float
) -> None:
    """Publish and wait for the broker's ack; any failure or timeout raises PublishError.
    Inside an active span, a record without trace context gets its ``traceparent``."""
    headers = record.str_headers()
    if TRACEPARENT not in headers:  # an explicit trace context wins
        headers.update(inject_headers())
    try:
        async with asyncio.timeout(timeout_s):
            await broker.publish(record.value, topic, key=record.key, headers=headers)
    except (KafkaError, TimeoutError, OSError, IncorrectState) as exc:
        # IncorrectState: the producer is not connected (yet, or any more).
        raise PublishError(f"publish to {topic} failed: {exc!r}") from exc
