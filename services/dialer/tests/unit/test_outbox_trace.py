"""Outbox records carry the trace they were written under; the relay publishes them later."""

from datetime import UTC, datetime
from uuid import uuid4

from opentelemetry import trace
from opentelemetry.context import attach, detach
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from switchboard.dialer import outbox
from switchboard.dialer.repository import Claimed, OutboxMessage

NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)
CLAIM = Claimed(uuid4(), uuid4(), 7, 1, "+14155550100", "+15005550006", NOW)


def placed() -> OutboxMessage:
    return outbox.placed(CLAIM, "CA1", "AC1", "tenant-a", NOW)


def test_an_outbox_record_continues_the_current_trace() -> None:
    ids = SpanContext(0xABC, 0xDEF, False, TraceFlags(TraceFlags.SAMPLED))
    token = attach(trace.set_span_in_context(NonRecordingSpan(ids)))
    try:
        message = placed()
    finally:
        detach(token)
    assert message.headers["traceparent"] == f"00-{0xABC:032x}-{0xDEF:016x}-01"


def test_an_outbox_record_written_outside_a_trace_carries_none() -> None:
    assert "traceparent" not in placed().headers
