"""Consumer spans: a record's ``traceparent`` header (put there by the ingress, or by any
publisher with a span) becomes the parent of a ``CONSUMER`` span ``process <topic>`` in the
process that handles the record, so one webhook is one trace across Kafka.

Only a record whose ``traceparent`` is *sampled* gets a span. With the services'
``ParentBased`` sampler a child of an unsampled parent is never recorded anyway, and a record
without trace context has nothing to continue; both cost one look through the record's headers
(no context extraction, no span object). Attributes follow the OpenTelemetry messaging semantic
conventions (``messaging.system=kafka``, destination, consumer group, partition, offset).
"""

import contextlib
from collections.abc import Iterator, Sequence
from typing import Final, TypeAlias

from aiokafka import ConsumerRecord
from opentelemetry import context, propagate, trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from switchboard.common.telemetry import TRACEPARENT, TRACESTATE

Record: TypeAlias = "ConsumerRecord[bytes, bytes]"

_TRACER_NAME: Final = "switchboard.common.kafka"


def _tracer() -> trace.Tracer:
    # Looked up per call: the provider is installed by configure_process after import.
    return trace.get_tracer(_TRACER_NAME)


def record_context(record: Record) -> context.Context | None:
    """The record's trace context when its ``traceparent`` is sampled; None otherwise."""
    parent: bytes | None = None
    state: bytes | None = None
    for key, value in record.headers or ():
        if key == TRACEPARENT:
            parent = value
        elif key == TRACESTATE:
            state = value
    # 00-<32 hex trace id>-<16 hex span id>-<2 hex flags>: bit 0 of the flags is "sampled".
    if parent is None or len(parent) < 55:
        return None
    try:
        if not int(parent[-2:], 16) & 0x01:
            return None
    except ValueError:
        return None
    carrier = {TRACEPARENT: parent.decode(errors="replace")}
    if state is not None:
        carrier[TRACESTATE] = state.decode(errors="replace")
    ctx = propagate.extract(carrier)
    return ctx if trace.get_current_span(ctx).get_span_context().is_valid else None


def start_consumer_span(record: Record, group: str, *, batch_size: int = 1) -> Span | None:
    """A started ``CONSUMER`` span for ``record`` under its remote parent (None: not sampled).
    The caller ends it."""
    parent = record_context(record)
    if parent is None:
        return None
    attributes: dict[str, str | int] = {
        "messaging.system": "kafka",
        "messaging.operation.name": "process",
        "messaging.operation.type": "process",
        "messaging.destination.name": record.topic,
        "messaging.destination.partition.id": str(record.partition),
        "messaging.kafka.offset": record.offset,
        "messaging.consumer.group.name": group,
        "messaging.kafka.consumer.group": group,
    }
    if batch_size > 1:
        attributes["messaging.batch.message_count"] = batch_size
    if record.key is not None:
        attributes["messaging.kafka.message.key"] = record.key.decode(errors="replace")
    for key, value in record.headers or ():
        if key == "ce_id":
            attributes["messaging.message.id"] = value.decode(errors="replace")
            break
    return _tracer().start_span(
        f"process {record.topic}", context=parent, kind=SpanKind.CONSUMER, attributes=attributes
    )


def fail_span(span: Span | None, error: BaseException, *, dead_lettered: bool = False) -> None:
    """Mark ``span`` failed by ``error`` (a dead letter, or a batch that is read again)."""
    if span is None:
        return
    span.record_exception(error)
    span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"[:300]))
    if dead_lettered:
        span.set_attribute("switchboard.dead_lettered", True)


@contextlib.contextmanager
def consumer_span(record: Record, group: str) -> Iterator[Span | None]:
    """A ``CONSUMER`` span for one record, current while the block runs (so records published
    inside it continue the trace); an exception leaving the block marks it failed."""
    span = start_consumer_span(record, group)
    if span is None:
        yield None
        return
    with trace.use_span(
        span, end_on_exit=True, record_exception=False, set_status_on_exception=False
    ):
        try:
            yield span
        except BaseException as exc:
            fail_span(span, exc)
            raise


@contextlib.contextmanager
def batch_spans(records: Sequence[Record], group: str) -> Iterator[dict[int, Span]]:
    """One ``CONSUMER`` span per sampled record, each under its own record's parent, open for
    the whole block (the handling of the batch they were read in); keyed by ``id(record)``.

    With several records none of the spans is made current: the handler's work belongs to
    all of them. A batch of one record makes its span current. An exception leaving the block
    marks every span failed (the batch is read again or the error propagates)."""
    size = len(records)
    spans: dict[int, Span] = {}
    for record in records:
        span = start_consumer_span(record, group, batch_size=size)
        if span is not None:
            spans[id(record)] = span
    if not spans:
        yield spans
        return
    try:
        if size == 1:
            (span,) = spans.values()
            with trace.use_span(span, record_exception=False, set_status_on_exception=False):
                yield spans
        else:
            yield spans
    except BaseException as exc:
        for span in spans.values():
            fail_span(span, exc)
        raise
    finally:
        for span in spans.values():
            span.end()
