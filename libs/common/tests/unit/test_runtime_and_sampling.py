"""The process settings production factories apply: the settled heap and the sampler."""

import gc
from collections.abc import Iterator

import pytest
from litestar import Litestar
from litestar.testing import TestClient
from opentelemetry import trace
from opentelemetry.context import Context, attach, detach
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags, TraceState
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from switchboard.common import telemetry
from switchboard.common.runtime import YOUNG_THRESHOLD, settled_after_startup
from switchboard.common.settings import TelemetrySettings
from switchboard.common.telemetry import tracer_provider


@pytest.fixture
def restored_gc() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


def test_the_heap_is_frozen_and_the_threshold_raised_once_the_app_has_started(
    restored_gc: None,
) -> None:
    started: list[int] = []
    app = Litestar(on_startup=[lambda: started.append(gc.get_freeze_count())])
    app = settled_after_startup(app)
    assert gc.get_threshold()[0] != YOUNG_THRESHOLD

    with TestClient(app):
        assert started == [0]  # the app's own start-up hooks ran first
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold()[0] == YOUNG_THRESHOLD


def _parent(sampled: bool) -> Context:
    flags = TraceFlags(TraceFlags.SAMPLED if sampled else TraceFlags.DEFAULT)
    ctx = SpanContext(trace_id=0x4BF9, span_id=0xF0, is_remote=True, trace_flags=flags)
    return trace.set_span_in_context(NonRecordingSpan(ctx))


def test_without_an_exporter_spans_get_ids_but_are_recorded_only_under_a_sampled_caller() -> None:
    tracer = tracer_provider(TelemetrySettings(), "t").get_tracer("t")

    root = tracer.start_span("webhook")
    assert not root.is_recording()
    assert root.get_span_context().is_valid  # its ids still travel in traceparent and logs
    assert not root.get_span_context().trace_flags.sampled

    under_unsampled = tracer.start_span("child", context=_parent(sampled=False))
    assert not under_unsampled.is_recording()
    assert under_unsampled.get_span_context().trace_id == 0x4BF9

    under_sampled = tracer.start_span("child", context=_parent(sampled=True))
    assert under_sampled.is_recording()
    assert under_sampled.get_span_context().trace_id == 0x4BF9


def test_with_an_exporter_new_traces_are_sampled_by_the_ratio() -> None:
    settings = TelemetrySettings(otlp_endpoint="http://127.0.0.1:9/v1/traces", sample_ratio=1.0)
    provider = tracer_provider(settings, "t")
    try:
        span = provider.get_tracer("t").start_span("webhook")
        assert span.is_recording()
        assert span.get_span_context().trace_flags.sampled  # not ended: nothing to export
    finally:
        provider.shutdown()


@pytest.fixture
def unexported(monkeypatch: pytest.MonkeyPatch) -> None:
    """What ``configure_tracing`` leaves when no OTLP endpoint is set."""
    monkeypatch.setattr(telemetry, "_exporting", False)


def test_an_unexported_server_span_is_a_fresh_trace_without_the_sdk(unexported: None) -> None:
    tracer = tracer_provider(TelemetrySettings(), "t").get_tracer("t")
    spans = [telemetry.start_server_span(tracer, "POST /x", Context()) for _ in range(2)]
    sdk = tracer.start_span("POST /x", context=Context()).get_span_context()
    for span in spans:
        assert not span.is_recording()
        assert span.get_span_context().is_valid
        assert not span.get_span_context().is_remote
        assert span.get_span_context().trace_flags == sdk.trace_flags  # unsampled, random id
    assert spans[0].get_span_context().trace_id != spans[1].get_span_context().trace_id


@pytest.mark.parametrize("sampled", [False, True])
def test_an_unexported_server_span_continues_the_callers_trace(
    unexported: None, sampled: bool
) -> None:
    tracer = tracer_provider(TelemetrySettings(), "t").get_tracer("t")
    caller = trace.get_current_span(_parent(sampled)).get_span_context()
    ids = telemetry.start_server_span(tracer, "POST /x", _parent(sampled)).get_span_context()
    assert ids.trace_id == caller.trace_id
    assert ids.span_id != caller.span_id
    assert ids.trace_flags == caller.trace_flags


def test_an_exported_server_span_is_the_sdks() -> None:
    tracer = tracer_provider(TelemetrySettings(sample_ratio=1.0), "t").get_tracer("t")
    span = telemetry.start_server_span(tracer, "POST /x", _parent(sampled=True))
    assert span.is_recording()
    assert span.get_span_context().trace_id == 0x4BF9


@pytest.mark.parametrize("sampled", [False, True])
@pytest.mark.parametrize("state", [None, TraceState([("vendor", "v1"), ("other", "o")])])
def test_inject_headers_writes_what_the_w3c_propagator_writes(
    sampled: bool, state: TraceState | None
) -> None:
    flags = TraceFlags(TraceFlags.SAMPLED if sampled else TraceFlags.DEFAULT)
    span = NonRecordingSpan(SpanContext(0xABC, 0xDEF, False, flags, state))
    token = attach(trace.set_span_in_context(span))
    try:
        expected: dict[str, str] = {}
        TraceContextTextMapPropagator().inject(expected)
        assert telemetry.inject_headers() == expected
    finally:
        detach(token)
    assert telemetry.inject_headers() == {}  # no current span: nothing to continue
