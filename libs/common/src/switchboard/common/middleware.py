"""HTTP plumbing every Switchboard service mounts:

- ``request_context`` middleware (routed requests): request id, structlog binding, a server
  span continuing the caller's trace, and a latency histogram by route template;
- ``response_headers`` before-send hook (every answer, 404/413/429 included): security
  headers and ``X-Request-ID``.
"""

import random
import time
from typing import Final

import structlog
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from opentelemetry import context as otel_context
from opentelemetry import trace
from prometheus_client import Histogram

from switchboard.common.metrics import labelled
from switchboard.common.telemetry import extract_context, start_server_span

REQUEST_ID_HEADER: Final = "x-request-id"
_STRICT_CSP: Final = b"default-src 'none'; frame-ancestors 'none'"
# The OpenAPI pages (Swagger UI, ReDoc, Elements, RapiDoc) are HTML that loads its scripts,
# styles and fonts from these CDNs and starts with an inline script: under the strict policy a
# browser shows a blank page. Only the ``/schema`` pages get this one.
_DOCS_CSP: Final = (
    b"default-src 'none'; frame-ancestors 'none'; connect-src 'self'; worker-src blob:; "
    b"img-src 'self' data: https://cdn.jsdelivr.net https://cdn.redoc.ly; "
    b"font-src https://fonts.gstatic.com; "
    b"style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net https://unpkg.com "
    b"https://fonts.googleapis.com; "
    b"script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net https://unpkg.com"
)
_OTHER_SECURITY_HEADERS: Final = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"strict-transport-security", b"max-age=63072000; includeSubDomains"),
    (b"cache-control", b"no-store"),
    (b"cross-origin-resource-policy", b"same-origin"),
)
SECURITY_HEADERS: Final = (*_OTHER_SECURITY_HEADERS, (b"content-security-policy", _STRICT_CSP))
DOCS_SECURITY_HEADERS: Final = (*_OTHER_SECURITY_HEADERS, (b"content-security-policy", _DOCS_CSP))
DOCS_PATH: Final = "/schema"
REQUEST_SECONDS = Histogram(
    "switchboard_http_request_seconds",
    "HTTP request handling time by route template and status.",
    ["method", "route", "status"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
_tracer = trace.get_tracer("switchboard.http")
_REQUEST_ID_BYTES: Final = REQUEST_ID_HEADER.encode()
_NO_PARENT: Final = otel_context.Context()
_READ_HEADERS: Final = frozenset({REQUEST_ID_HEADER.encode(), b"traceparent", b"tracestate"})


def request_context(app: ASGIApp) -> ASGIApp:
    """Wrap ``app``: ids, span, headers, timing (Litestar ``middleware=[request_context]``).

    Written out by hand rather than with ``start_as_current_span`` and structlog's
    ``bound_contextvars`` (each a generator context manager): this runs on every webhook."""

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
        bound = {"request_id": _request_id(scope, headers.get(REQUEST_ID_HEADER))}
        status = 500
        started = time.perf_counter()

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        method = scope.get("method", "GET")
        span = start_server_span(
            _tracer,
            f"{method} {scope['path']}",
            # a new trace unless the caller sent one (providers do not)
            extract_context(headers) if "traceparent" in headers else _NO_PARENT,
        )
        span_context = span.get_span_context()
        if span_context.is_valid:
            bound["trace_id"] = format(span_context.trace_id, "032x")
        log_tokens = structlog.contextvars.bind_contextvars(**bound)
        trace_token = otel_context.attach(trace.set_span_in_context(span))
        try:
            await app(scope, receive, send_with_status)
        except BaseException as exc:
            if span.is_recording():
                span.record_exception(exc)
                span.set_status(trace.StatusCode.ERROR, repr(exc))
            raise
        finally:
            otel_context.detach(trace_token)
            structlog.contextvars.reset_contextvars(**log_tokens)
            route = scope.get("path_template") or "unmatched"
            if span.is_recording():
                span.update_name(f"{method} {route}")
                span.set_attribute("http.response.status_code", status)
            span.end()
            labelled(REQUEST_SECONDS, method, route, str(status)).observe(
                time.perf_counter() - started
            )

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
        # An id to find log lines by, not a secret: no system call per request for it.
        state["request_id"] = given if ok else f"{random.getrandbits(128):032x}"
    return str(state["request_id"])


async def response_headers(message: Message, scope: Scope) -> None:
    """Before-send hook: security headers and the request id on every answer."""
    if message["type"] != "http.response.start":
        return
    request_id = _request_id(scope, scope_header(scope, _REQUEST_ID_BYTES)).encode()
    # Raw (name, value) pairs appended as they are: this runs for every answer.
    message["headers"] = [
        *message.get("headers", ()),
        *(DOCS_SECURITY_HEADERS if _is_docs_page(scope) else SECURITY_HEADERS),
        (_REQUEST_ID_BYTES, request_id),
    ]


def _is_docs_page(scope: Scope) -> bool:
    path = str(scope.get("path", ""))
    return path.startswith(DOCS_PATH) and not path.endswith((".json", ".yaml", ".yml"))
