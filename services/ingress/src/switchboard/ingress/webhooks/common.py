"""What every webhook route does the same way: read the body, check its media type, work out
the URL the provider signed, and make the events durable before answering."""

import json
from collections.abc import Sequence
from dataclasses import dataclass
from ipaddress import ip_address
from typing import Any, Final, cast
from urllib.parse import unquote_plus

from litestar import Request
from litestar.datastructures import State

from switchboard.common.metrics import labelled
from switchboard.common.middleware import scope_header
from switchboard.common.settings import Network
from switchboard.ingress.delivery import Delivery
from switchboard.ingress.directory import Directory
from switchboard.ingress.errors import (
    BodyTooLarge,
    BrokerUnavailable,
    PayloadUnreadable,
    UnsupportedMedia,
)
from switchboard.ingress.mappers import Outgoing
from switchboard.ingress.metrics import UNOWNED, WEBHOOKS
from switchboard.ingress.settings import IngressSettings
from switchboard.ingress.spool import SpoolUnavailable
from switchboard.ingress.verify import FormParams

AnyRequest = Request[Any, Any, State]


@dataclass(frozen=True, slots=True)
class Wiring:
    """What the routes need, kept in the app state (cheaper than per-request DI on the hot
    path, where Litestar resolves dependencies through a task group)."""

    settings: IngressSettings
    delivery: Delivery
    directory: Directory


def wiring(request: AnyRequest) -> Wiring:
    return cast(Wiring, request.app.state.wiring)


FORM = "application/x-www-form-urlencoded"
JSON = "application/json"


def header(request: AnyRequest, name: bytes) -> str | None:
    """A request header read from the ASGI scope (see ``scope_header``)."""
    return scope_header(request.scope, name)


def raw_header(request: AnyRequest, name: bytes) -> bytes | None:
    """A request header's bytes as received (signatures are compared as bytes)."""
    for key, value in request.scope["headers"]:
        if key == name:
            return bytes(value)
    return None


def media_type(request: AnyRequest) -> str:
    return (header(request, b"content-type") or "").split(";")[0].strip().lower()


async def read_body(request: AnyRequest, expected: str) -> bytes:
    """The raw body, after checking the Content-Type (415 otherwise) and its size (413).

    Read from the ASGI channel itself: ``Request.body()`` builds a ``Headers`` object for every
    request to find the length, a measurable share of a webhook's cost."""
    got = media_type(request)
    if got != expected:
        raise UnsupportedMedia(detail=f"expected {expected}, got {got or 'no content type'}")
    limit = wiring(request).settings.http.max_body_bytes
    declared = header(request, b"content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(detail=f"body over {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await request.receive()
        if message["type"] != "http.request":  # the client went away
            raise PayloadUnreadable(detail="the client disconnected before sending the body")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(detail=f"body over {limit} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def parse_form(body: bytes) -> FormParams:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PayloadUnreadable(detail="form body is not UTF-8") from exc
    return FormParams.from_pairs(form_pairs(text))


def form_pairs(text: str) -> list[tuple[str, str]]:
    """``urllib.parse.parse_qsl(text, keep_blank_values=True)`` (a test checks they agree),
    unquoting only the fields that need it: Twilio's forms are mostly plain."""
    pairs = []
    for field in text.split("&"):
        if not field:
            continue
        name, _, value = field.partition("=")
        if "%" in name or "+" in name:
            name = _unquote_plus(name)
        if "%" in value or "+" in value:
            value = _unquote_plus(value)
        pairs.append((name, value))
    return pairs


# %XX of an ASCII character → the character (both hex cases, as ``unquote`` reads them).
_ASCII_ESCAPES: Final = {
    f"{code:02{case}}": chr(code) for code in range(128) for case in ("x", "X")
}


def _unquote_plus(text: str) -> str:
    """``unquote_plus`` for the escapes Twilio's forms carry (``%2B`` of a phone number,
    ``%3A`` of a time: ASCII), three times faster; anything else goes to ``unquote_plus``."""
    head, *escaped = text.replace("+", " ").split("%")
    out = [head]
    for part in escaped:
        char = _ASCII_ESCAPES.get(part[:2])
        if char is None:  # UTF-8 bytes, a bad escape: the general rules
            return unquote_plus(text)
        out.append(char)
        out.append(part[2:])
    return "".join(out)


def parse_json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise PayloadUnreadable(detail=f"body is not JSON: {exc}") from exc


def signed_url(settings: IngressSettings, request: AnyRequest) -> str:
    """The URL the provider called, as it signed it.

    From the configured public base URL, or from X-Forwarded-Proto/Host when the peer is a
    trusted proxy (``SWITCHBOARD_EDGE__TRUSTED_PROXIES``). The path and the raw query string
    are used exactly as received.
    """
    base = str(settings.http.public_base_url).rstrip("/")
    proxies = settings.edge.trusted_proxies
    client = request.scope.get("client") if proxies else None
    if client and _trusted(client[0], proxies):
        proto = header(request, b"x-forwarded-proto")
        host = header(request, b"x-forwarded-host")
        if proto and host:
            base = f"{proto.split(',')[0].strip()}://{host.split(',')[0].strip()}"
    query = request.scope.get("query_string", b"")
    url = base + request.scope["path"]
    return f"{url}?{query.decode('latin-1')}" if query else url


def _trusted(peer: str, proxies: Sequence[Network]) -> bool:
    try:
        address = ip_address(peer)
    except ValueError:
        return False
    return any(address in net for net in proxies)


def query_value(request: AnyRequest, name: str) -> str | None:
    """The first value of query parameter ``name`` (it is part of the signed URL for Twilio)."""
    query = request.scope.get("query_string", b"")
    if not query:
        return None
    for key, value in form_pairs(query.decode("latin-1")):
        if key == name:
            return value
    return None


async def accept(route: str, delivery: Delivery, outgoing: Sequence[Outgoing]) -> None:
    """Make every event durable (Kafka ack or spool) or raise 503; count the outcome."""
    if not outgoing:
        labelled(WEBHOOKS, route, "ignored").inc()
        return
    try:
        outcome = await delivery.deliver(outgoing)
    except SpoolUnavailable as exc:
        raise BrokerUnavailable(
            detail="events could not be made durable; retry later", headers={"Retry-After": "5"}
        ) from exc
    labelled(WEBHOOKS, route, outcome).inc()
    for o in outgoing:
        if o.unowned:
            labelled(UNOWNED, route, o.unowned).inc()
