"""Consumer spans continue the trace a record carries (switchboard.common.kafka.tracing), in
BatchProcessor, handle_or_dead_letter and process_record; publishing inside a span injects it."""

import asyncio
import secrets
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from switchboard.common.errors import PermanentError
from switchboard.common.events import CallStatus, CallStatusChanged, Event, encode
from switchboard.common.kafka import (
    BatchProcessor,
    RetryPolicy,
    handle_or_dead_letter,
    process_record,
    publish_record,
    send_records,
)
from switchboard.common.kafka.tracing import record_context
from switchboard.common.telemetry import inject_headers
from switchboard.common.testing import consumer_record

FAST = RetryPolicy(attempts=2, initial_backoff_s=0.001, max_backoff_s=0.002)
NOW = datetime(2026, 11, 23, tzinfo=UTC)


class Dead:
    def __init__(self) -> None:
        self.sent: list[int] = []

    async def send(self, record: Any, error: BaseException, attempts: int) -> None:
        self.sent.append(record.offset)


@pytest.fixture(scope="module")
def exporter() -> InMemorySpanExporter:
    """The global provider can be set once per process: an SDK provider already installed (by
    another test's configure_tracing) gets the exporter too (it stays attached, unused)."""
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        trace.set_tracer_provider(TracerProvider())
        provider = trace.get_tracer_provider()
    assert isinstance(provider, TracerProvider)
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return exporter


@pytest.fixture
def spans(exporter: InMemorySpanExporter) -> Iterator[InMemorySpanExporter]:
    """Finished spans of this test."""
    exporter.clear()
    yield exporter
    exporter.clear()


def traceparent(sampled: bool = True) -> tuple[str, str, str]:
    trace_id, span_id = secrets.token_hex(16), secrets.token_hex(8)
    return trace_id, span_id, f"00-{trace_id}-{span_id}-{'01' if sampled else '00'}"


def call(sid: str, header: str | None) -> Event:
    data = CallStatusChanged(
        provider="twilio", call_id=sid, status=CallStatus.RINGING, occurred_at=NOW
    )
    trace_headers = {"traceparent": header} if header else {}
    return Event(id=sid, source="/t", subject=sid, data=data, trace_headers=trace_headers)


def of_trace(exporter: InMemorySpanExporter, trace_id: str) -> list[ReadableSpan]:
    return [
        s
        for s in exporter.get_finished_spans()
        if s.context is not None and format(s.context.trace_id, "032x") == trace_id
    ]


def parent_id(span: ReadableSpan) -> str:
    assert span.parent is not None
    return format(span.parent.span_id, "016x")


async def test_batch_records_get_consumer_spans_under_their_own_parents(
    spans: InMemorySpanExporter,
) -> None:
    (t1, s1, h1), (t2, s2, h2) = traceparent(), traceparent()
    t3, _, h3 = traceparent(sampled=False)
    records = [
        consumer_record(call("a", h1), offset=5),
        consumer_record(call("b", h2), offset=6),
        consumer_record(call("c", h3), offset=7),
        consumer_record(call("d", None), offset=8),
    ]
    handled: list[str] = []

    async def handle(events: Sequence[Event]) -> None:
        handled.extend(e.id for e in events)
        # Several traces share this call: none of their spans is current.
        assert not trace.get_current_span().get_span_context().is_valid

    await BatchProcessor(Dead(), FAST, group="dialer").process(records, handle)
    assert handled == ["a", "b", "c", "d"]

    (first,) = of_trace(spans, t1)
    (second,) = of_trace(spans, t2)
    assert parent_id(first) == s1
    assert parent_id(second) == s2
    assert first.kind is SpanKind.CONSUMER
    assert first.name == "process call.events"
    attrs = dict(first.attributes or {})
    assert attrs["messaging.system"] == "kafka"
    assert attrs["messaging.destination.name"] == "call.events"
    assert attrs["messaging.kafka.consumer.group"] == "dialer"
    assert attrs["messaging.consumer.group.name"] == "dialer"
    assert attrs["messaging.destination.partition.id"] == "0"
    assert attrs["messaging.kafka.offset"] == 5
    assert attrs["messaging.kafka.message.key"] == "a"
    assert attrs["messaging.message.id"] == "a"
    assert attrs["messaging.batch.message_count"] == 4
    assert first.status.status_code is StatusCode.UNSET
    # Unsampled or absent trace context: no span at all.
    assert not of_trace(spans, t3)
    assert len(spans.get_finished_spans()) == 2


async def test_a_dead_lettered_record_marks_its_span_and_publishes_continue_it(
    spans: InMemorySpanExporter,
) -> None:
    (t1, s1, h1), (t2, _, h2) = traceparent(), traceparent()
    records = [
        consumer_record(call("ok", h1), offset=1),
        consumer_record(call("bad", h2), offset=2),
    ]
    current: dict[str, str] = {}

    async def handle(events: Sequence[Event]) -> None:
        if len(events) == 1:  # record by record: the record's span is current
            current[events[0].id] = inject_headers().get("traceparent", "")
        if any(e.id == "bad" for e in events):
            raise PermanentError("bad")

    dead = Dead()
    await BatchProcessor(dead, FAST, group="g").process(records, handle)
    assert dead.sent == [2]
    (ok,) = of_trace(spans, t1)
    (bad,) = of_trace(spans, t2)
    assert ok.status.status_code is StatusCode.UNSET
    assert bad.status.status_code is StatusCode.ERROR
    assert (bad.attributes or {})["switchboard.dead_lettered"] is True
    assert ok.context is not None
    assert current["ok"].startswith(f"00-{t1}-{format(ok.context.span_id, '016x')}-")
    assert parent_id(ok) == s1


async def test_handle_or_dead_letter_and_process_record_open_a_current_span(
    spans: InMemorySpanExporter,
) -> None:
    t1, s1, h1 = traceparent()
    record = consumer_record(call("x", h1), "message.inbound", 3)
    seen: list[str] = []

    async def work() -> None:
        seen.append(format(trace.get_current_span().get_span_context().trace_id, "032x"))

    assert await handle_or_dead_letter(record, work, FAST, Dead(), group="ai")
    assert seen == [t1]
    (span,) = of_trace(spans, t1)
    assert span.kind is SpanKind.CONSUMER
    assert span.name == "process message.inbound"
    assert parent_id(span) == s1

    t2, _, h2 = traceparent()

    async def fail(_: Event) -> None:
        raise PermanentError("no")

    dead = Dead()
    assert not await process_record(consumer_record(call("y", h2), offset=9), fail, FAST, dead)
    assert dead.sent == [9]
    (failed,) = of_trace(spans, t2)
    assert failed.status.status_code is StatusCode.ERROR


def test_record_context_needs_a_sampled_valid_traceparent() -> None:
    _, _, sampled = traceparent()
    _, _, unsampled = traceparent(sampled=False)
    assert record_context(consumer_record(None, headers=[("traceparent", sampled.encode())]))
    for bad in (unsampled, "tp", "00-zz-zz-01", "00-" + "0" * 32 + "-" + "0" * 16 + "-01"):
        assert record_context(consumer_record(None, headers=[("traceparent", bad.encode())])) is (
            None
        )
    assert record_context(consumer_record(None, headers=[])) is None


class Producer:
    def __init__(self) -> None:
        self.headers: list[dict[str, bytes]] = []

    async def send(self, topic: str, value: bytes, *, key: Any, headers: Any) -> Any:
        self.headers.append(dict(headers))
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        future.set_result(None)
        return future


async def test_send_records_injects_the_current_span_unless_a_record_has_its_own(
    spans: InMemorySpanExporter,
) -> None:
    own = "00-" + "1" * 32 + "-" + "2" * 16 + "-01"
    plain = encode(call("p", None), "p")
    explicit = encode(call("e", own), "e")
    producer = Producer()
    await send_records(producer, [("t", plain)], timeout_s=1)  # type: ignore[arg-type]
    assert "traceparent" not in producer.headers[0]  # no span: nothing added

    with trace.get_tracer("test").start_as_current_span("work") as span:
        await send_records(producer, [("t", plain), ("t", explicit)], timeout_s=1)  # type: ignore[arg-type]
    ctx = span.get_span_context()
    assert producer.headers[1]["traceparent"] == (
        f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{ctx.trace_flags:02x}".encode()
    )
    assert producer.headers[2]["traceparent"] == own.encode()


class Broker:
    def __init__(self) -> None:
        self.headers: list[dict[str, str]] = []

    async def publish(self, value: bytes, topic: str, *, key: Any, headers: Any) -> None:
        self.headers.append(dict(headers))


async def test_publish_record_injects_the_current_span_unless_the_record_has_its_own(
    spans: InMemorySpanExporter,
) -> None:
    own = "00-" + "1" * 32 + "-" + "2" * 16 + "-01"
    plain = encode(call("p", None), "p")
    explicit = encode(call("e", own), "e")
    broker = Broker()
    await publish_record(broker, "t", plain, timeout_s=1)  # type: ignore[arg-type]
    assert "traceparent" not in broker.headers[0]  # no span: nothing added

    with trace.get_tracer("test").start_as_current_span("work") as span:
        await publish_record(broker, "t", plain, timeout_s=1)  # type: ignore[arg-type]
        await publish_record(broker, "t", explicit, timeout_s=1)  # type: ignore[arg-type]
    assert broker.headers[1]["traceparent"] == inject_headers_of(span)
    assert broker.headers[2]["traceparent"] == own
    assert "traceparent" not in plain.str_headers()  # the record itself is left as it was


def inject_headers_of(span: trace.Span) -> str:
    ctx = span.get_span_context()
    return f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{ctx.trace_flags:02x}"
