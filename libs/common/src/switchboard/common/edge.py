"""Edge rules every HTTP API applies the same way (``SWITCHBOARD_EDGE__*``): security headers
and the request id on every answer, a CORS allow-list, and who the client really is behind
trusted proxies.

    Litestar(..., on_app_init=[auth.on_app_init, edge_rules(settings.edge)])

Behind a load balancer or an ingress controller, the TCP peer of every request is the proxy:
a per-IP limit keyed on it is one shared limit for the whole world. :func:`client_address`
takes the rightmost ``X-Forwarded-For`` hop that is not a trusted proxy instead: each trusted
proxy appends the address it received the request from, so that hop is the one no client can
forge (whatever a client writes itself sits to its left).
"""

from collections.abc import Callable, Sequence
from ipaddress import IPv4Address, IPv6Address, ip_address
from typing import Any, Final

from litestar.config.app import AppConfig
from litestar.config.cors import CORSConfig
from litestar.types import Scope

from switchboard.common.middleware import response_headers
from switchboard.common.settings import EdgeSettings, Network

_XFF: Final = b"x-forwarded-for"
MAX_HOP_CHARS: Final = 64
"""A hop longer than this is no address; it is cut (it still keys a limit of its own)."""


def _address(text: str) -> IPv4Address | IPv6Address | None:
    try:
        return ip_address(text)
    except ValueError:
        pass
    # "[v6]:port" or "v4:port", as some proxies write them
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    else:
        return None
    try:
        return ip_address(text)
    except ValueError:
        return None


def _trusted(address: IPv4Address | IPv6Address | None, proxies: Sequence[Network]) -> bool:
    return address is not None and any(address in net for net in proxies)


def client_address(scope: Scope, trusted_proxies: Sequence[Network]) -> str:
    """The client's address: the TCP peer, or behind trusted proxies the rightmost
    ``X-Forwarded-For`` hop that is not a trusted proxy (all trusted: the leftmost)."""
    client = scope.get("client")
    peer = str(client[0]) if client else "unknown"
    if not trusted_proxies or not _trusted(_address(peer), trusted_proxies):
        return peer
    hops: list[str] = []
    for name, value in scope.get("headers", ()):
        if name == _XFF:  # several headers are one list, in order
            hops.extend(value.decode("latin-1").split(","))
    for hop in reversed(hops):
        text = hop.strip()[:MAX_HOP_CHARS]
        if not text:
            continue
        address = _address(text)
        if not _trusted(address, trusted_proxies):
            return str(address) if address is not None else text
    first = next((h.strip()[:MAX_HOP_CHARS] for h in hops if h.strip()), None)
    return first or peer


def client_identifier(trusted_proxies: Sequence[Network]) -> Callable[[Any], str]:
    """``RateLimitConfig(identifier_for_request=...)``: limits per real client."""
    proxies = tuple(trusted_proxies)

    def identify(request: Any) -> str:
        return client_address(request.scope, proxies)

    return identify


__all__ = ["EdgeSettings", "client_address", "client_identifier", "edge_rules"]


def edge_rules(settings: EdgeSettings) -> Callable[[AppConfig], AppConfig]:
    """An ``on_app_init`` hook: security headers and ``X-Request-ID`` on every answer (the
    strict CSP everywhere but the ``/schema`` pages), and CORS for the allowed origins only."""

    def apply(app_config: AppConfig) -> AppConfig:
        if response_headers not in app_config.before_send:
            app_config.before_send.append(response_headers)
        if settings.cors_origins:
            app_config.cors_config = CORSConfig(
                allow_origins=list(settings.cors_origins),
                allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
                allow_headers=["authorization", "content-type", "x-request-id", "traceparent"],
                expose_headers=["x-request-id", "retry-after", "location"],
                allow_credentials=False,
                max_age=600,
            )
        else:
            app_config.cors_config = None  # no CORS answers: browsers refuse cross-origin reads
        return app_config

    return apply
