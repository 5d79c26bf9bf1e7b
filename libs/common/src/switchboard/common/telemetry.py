"""OpenTelemetry tracing: one tracer provider per process; trace context travels from the
webhook's span into the Kafka message headers (``traceparent``) and on into consumers."""

from collections.abc import Mapping

from opentelemetry import context, propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ParentBased, ParentBasedTraceIdRatio
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from switchboard.common.settings import TelemetrySettings

_configured = False


def configure_tracing(settings: TelemetrySettings, service: str) -> None:
    """Install the SDK tracer provider (once per process); export when an endpoint is set."""
    global _configured
    if _configured:
        return
    trace.set_tracer_provider(tracer_provider(settings, service))
    _configured = True


def tracer_provider(settings: TelemetrySettings, service: str) -> TracerProvider:
    """The provider ``configure_tracing`` installs.

    Without an exporter a recorded span would be thrown away at its end, so only a caller's
    sampled trace is recorded then. Every span still gets its ids, which travel in Kafka
    headers and logs (``trace_id``): the events of one webhook stay correlated."""
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


_W3C = TraceContextTextMapPropagator()


def inject_headers() -> dict[str, str]:
    """The current trace context as W3C headers (``traceparent``, ``tracestate``): the W3C
    propagator alone, as the global composite also walks baggage, which nothing here sets
    (the ingress calls this for every webhook)."""
    carrier: dict[str, str] = {}
    _W3C.inject(carrier)
    return carrier


def extract_context(headers: Mapping[str, str]) -> context.Context:
    """The trace context carried by incoming headers."""
    return propagate.extract(dict(headers))
