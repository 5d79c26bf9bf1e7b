"""OpenTelemetry tracing: one tracer provider per process; trace context travels from the
webhook's span into the Kafka message headers (``traceparent``) and on into consumers."""

from collections.abc import Mapping
from typing import Final

from opentelemetry import context, propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ParentBased, ParentBasedTraceIdRatio

from switchboard.common.settings import TelemetrySettings

_configured = False
_exporting = True
"""Whether server spans go through the SDK: until ``configure_tracing`` finds no exporter."""
_IDS = RandomIdGenerator()
_NEW_TRACE_FLAGS = trace.TraceFlags(trace.TraceFlags.RANDOM_TRACE_ID)  # as the SDK marks them


def configure_tracing(settings: TelemetrySettings, service: str) -> None:
    """Install the SDK tracer provider (once per process); export when an endpoint is set."""
    global _configured, _exporting
    if _configured:
        return
    trace.set_tracer_provider(tracer_provider(settings, service))
    _exporting = bool(settings.otlp_endpoint)
    _configured = True


def start_server_span(tracer: trace.Tracer, name: str, parent: context.Context) -> trace.Span:
    """A request's server span, under the caller's trace in ``parent`` if it sent one.

    When nothing exports spans, only its ids are made — a new trace, or the caller's with its
    flags and state — as the SDK would for an unexported span, without its sampler round trip
    (a tenth of a webhook's CPU in the ingress, measured). The ids travel in ``traceparent``
    and the ``trace_id`` log field the same way."""
    if _exporting:
        return tracer.start_span(name, context=parent, kind=trace.SpanKind.SERVER)
    caller = trace.get_current_span(parent).get_span_context()
    if caller.is_valid:
        trace_id, flags, state = caller.trace_id, caller.trace_flags, caller.trace_state
    else:
        trace_id, flags, state = _IDS.generate_trace_id(), _NEW_TRACE_FLAGS, None
    ids = trace.SpanContext(trace_id, _IDS.generate_span_id(), False, flags, state)
    return trace.NonRecordingSpan(ids)


def tracer_provider(settings: TelemetrySettings, service: str) -> TracerProvider:
    """The provider ``configure_tracing`` installs.

    Without an exporter a recorded span would be thrown away at its end, so only a caller's
    sampled trace is recorded then (and server spans skip the SDK: ``start_server_span``).
    Every span still gets its ids, which travel in Kafka headers and logs (``trace_id``): the
    events of one webhook stay correlated."""
    provider = TracerProvider(
        resource=Resource.create({"service.name": f"switchboard-{service}"}),
        sampler=ParentBasedTraceIdRatio(settings.sample_ratio)
        if settings.otlp_endpoint
        else ParentBased(ALWAYS_OFF),
    )
    if settings.otlp_endpoint:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(settings.otlp_endpoint)))
    return provider


TRACEPARENT: Final = "traceparent"
TRACESTATE: Final = "tracestate"


def inject_headers() -> dict[str, str]:
    """The current trace context as W3C headers (``traceparent``, ``tracestate``; none outside
    a span), as the W3C propagator writes them (a test checks it), written out: the ingress
    calls this for every webhook, and the global composite propagator also walks baggage,
    which nothing here sets. The one writer of trace headers: Kafka records, the outbox."""
    ids = trace.get_current_span().get_span_context()
    if not ids.is_valid:
        return {}
    headers = {TRACEPARENT: f"00-{ids.trace_id:032x}-{ids.span_id:016x}-{ids.trace_flags:02x}"}
    if ids.trace_state:
        headers[TRACESTATE] = ids.trace_state.to_header()
    return headers


def extract_context(headers: Mapping[str, str]) -> context.Context:
    """The trace context carried by incoming headers."""
    return propagate.extract(dict(headers))
