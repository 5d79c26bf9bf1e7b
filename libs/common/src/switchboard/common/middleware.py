"""HTTP plumbing every Switchboard service mounts:

- ``request_context`` middleware (routed requests): request id, structlog binding, a server
  span continuing the caller's trace, and a latency histogram by route template;
- ``response_headers`` before-send hook (every answer, 404/413/429 included): security
  headers and ``X-Request-ID``.
"""

import os
import time
from typing import Final

import structlog
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from opentelemetry import trace
from prometheus_client import Histogram

from switchboard.common.telemetry import extract_context

REQUEST_ID_HEADER: Final = "x-request-id"
SECURITY_HEADERS: Final = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'"),
    (b"strict-transport-security", b"max-age=63072000; includeSubDomains"),
    (b"cache-control", b"no-store"),
    (b"cross-origin-resource-policy", b"same-origin"),
)
REQUEST_SECONDS = Histogram(
    "switchboard_http_request_seconds",
    "HTTP request handling time by route template and status.",
    ["method", "route", "status"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
_tracer = trace.get_tracer("switchboard.http")
_REQUEST_ID_BYTES: Final = REQUEST_ID_HEADER.encode()
_READ_HEADERS: Final = frozenset({REQUEST_ID_HEADER.encode(), b"traceparent", b"tracestate"})


def request_context(app: ASGIApp) -> ASGIApp:
    """Wrap ``app``: ids, span, headers, timing (Litestar ``middleware=[request_context]``)."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        # Only the few headers we read are decoded (this runs on every request).
        headers = {
            k.decode("latin-1"): v.decode("latin-1")
            for k, v in scope["headers"]
            if k in _READ_HEADERS
        }
        request_id = _request_id(scope, headers.get(REQUEST_ID_HEADER))
        status = 500
        started = time.perf_counter()

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        method = scope.get("method", "GET")
        with (
            structlog.contextvars.bound_contextvars(request_id=request_id),
            _tracer.start_as_current_span(
                f"{method} {scope['path']}",
                context=extract_context(headers),
                kind=trace.SpanKind.SERVER,
            ) as span,
        ):
            span_context = span.get_span_context()
            if span_context.is_valid:
                structlog.contextvars.bind_contextvars(
                    trace_id=format(span_context.trace_id, "032x")
                )
            try:
                await app(scope, receive, send_with_status)
            finally:
                route = scope.get("path_template") or "unmatched"
                span.update_name(f"{method} {route}")
                span.set_attribute("http.response.status_code", status)
                REQUEST_SECONDS.labels(method, route, str(status)).observe(
                    time.perf_counter() - started
                )
                structlog.contextvars.unbind_contextvars("trace_id")

    return middleware


def scope_header(scope: Scope, name: bytes) -> str | None:
    """The first value of header ``name`` (lower case) straight from the ASGI scope: cheaper
    than building a ``Headers`` object when a hot path needs one or two."""
    for key, value in scope.get("headers", ()):
        if key == name:
            return str(value.decode("latin-1"))
    return None


def _request_id(scope: Scope, given: str | None) -> str:
    """The caller's id when sane, else a new one; kept in the scope state for the hook."""
    state = scope.setdefault("state", {})
    if "request_id" not in state:
        ok = given and len(given) <= 128 and given.isprintable()
        state["request_id"] = given if ok else os.urandom(16).hex()  # uuid4().hex, cheaper
    return str(state["request_id"])


async def response_headers(message: Message, scope: Scope) -> None:
    """Before-send hook: security headers and the request id on every answer."""
    if message["type"] != "http.response.start":
        return
    request_id = _request_id(scope, scope_header(scope, _REQUEST_ID_BYTES)).encode()
    # Raw (name, value) pairs appended as they are: this runs for every answer.
    message["headers"] = [
        *message.get("headers", ()),
        *SECURITY_HEADERS,
        (_REQUEST_ID_BYTES, request_id),
    ]
