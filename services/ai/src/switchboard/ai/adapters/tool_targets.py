"""Where a tenant's HTTP tool may send requests: public addresses only (outside ``local``).

A tool URL is the tenant's to choose, and the AI service sits inside the cluster: an
unchecked URL would let a tenant reach internal services or the cloud metadata endpoint
(SSRF). The check happens where the connection is made, on the addresses actually
connected to: :class:`GuardedBackend` is httpcore's network backend, so the name is resolved
once, *every* address it resolves to must be public (one private address among public ones is
enough to refuse: DNS may hand out either), and the socket connects to an address that was
checked — a name that resolves to a public address for a check and a private one for the
connect (DNS rebinding) has no second resolution to exploit. TLS still verifies the name
(httpcore sends it as SNI and checks the certificate against it). Redirects are never
followed (httpcore has none), so a public endpoint cannot bounce the request inward.
"""

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable
from typing import Final
from urllib.parse import urlsplit

import httpcore
from httpcore import AnyIOBackend, AsyncNetworkBackend, AsyncNetworkStream

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_METADATA: Final = frozenset({"metadata.google.internal", "metadata"})


class TargetRefused(httpcore.ConnectError):
    """The tool's host resolves to an address it may not reach (or does not resolve)."""


def address_allowed(address: IPAddress, *, allow_private: bool) -> bool:
    """A public unicast address; anything when ``allow_private`` (the local environment)."""
    if allow_private:
        return True
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    # is_global is False for private, loopback, link-local (169.254/16, the cloud metadata
    # endpoint; fe80::/10), shared (100.64/10), unspecified and reserved ranges.
    return address.is_global and not address.is_multicast


def url_problem(url: str, *, allow_private: bool) -> str | None:
    """Why ``url`` cannot be a tool endpoint without resolving anything (None: it may be)."""
    parts = urlsplit(url)
    if parts.scheme != "https" and not (allow_private and parts.scheme == "http"):
        return "a tool endpoint must be https"
    host = parts.hostname
    if not host:
        return "a tool endpoint needs a host"
    if parts.username or parts.password:
        return "a tool endpoint may not carry credentials in its URL"
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        if not allow_private and (host in _METADATA or host == "localhost"):
            return f"{host} is not a public host"
        return None
    if not address_allowed(literal, allow_private=allow_private):
        return f"{host} is not a public address"
    return None


async def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address ``host`` resolves to (a literal is its own)."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise TargetRefused(f"{host} does not resolve: {exc}") from exc
    found: dict[str, IPAddress] = {}
    for *_, sockaddr in infos:
        found.setdefault(str(sockaddr[0]), ipaddress.ip_address(sockaddr[0]))
    return list(found.values())


def refused(addresses: Iterable[IPAddress], *, allow_private: bool) -> list[IPAddress]:
    return [a for a in addresses if not address_allowed(a, allow_private=allow_private)]


class GuardedBackend(AsyncNetworkBackend):
    """httpcore's default backend, connecting only to checked addresses."""

    def __init__(
        self,
        *,
        allow_private: bool,
        inner: AsyncNetworkBackend | None = None,
        resolver: Callable[[str, int], Awaitable[list[IPAddress]]] = resolve,
    ) -> None:
        self._allow_private = allow_private
        self._inner = inner or AnyIOBackend()
        self._resolve = resolver

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's backend signature
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> AsyncNetworkStream:
        addresses = await self._resolve(host, port)
        bad = refused(addresses, allow_private=self._allow_private)
        if bad or not addresses:
            shown = ", ".join(str(a) for a in bad) or "nothing"
            raise TargetRefused(f"{host} resolves to {shown}: not a public address")
        last: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    str(address),
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        assert last is not None
        raise last

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's backend signature
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> AsyncNetworkStream:
        raise TargetRefused("tool endpoints are TCP only")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)
