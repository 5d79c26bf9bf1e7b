"""Tool endpoints reach public addresses only: every resolved address checked, the connection
made to a checked address, literals and well-known internal names refused up front."""

import ipaddress
from typing import Any

import httpcore
import pytest

from switchboard.ai.adapters.tool_targets import (
    GuardedBackend,
    TargetRefused,
    address_allowed,
    url_problem,
)

PRIVATE = (
    "10.1.2.3",
    "172.16.0.1",
    "192.168.1.1",
    "127.0.0.1",
    "169.254.169.254",  # cloud metadata (link-local)
    "100.64.0.1",  # shared address space
    "0.0.0.0",  # noqa: S104 - an address refused, not bound
    "224.0.0.1",
    "::1",
    "fe80::1",
    "fc00::1",
    "::ffff:10.0.0.1",  # IPv4-mapped private
    "::ffff:127.0.0.1",
)


@pytest.mark.parametrize("address", PRIVATE)
def test_private_loopback_and_link_local_are_refused(address: str) -> None:
    ip = ipaddress.ip_address(address)
    assert not address_allowed(ip, allow_private=False)
    assert address_allowed(ip, allow_private=True)


@pytest.mark.parametrize("address", ("93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"))
def test_public_addresses_are_allowed(address: str) -> None:
    assert address_allowed(ipaddress.ip_address(address), allow_private=False)


def test_url_problems() -> None:
    assert url_problem("https://tools.example.com/hook", allow_private=False) is None
    assert url_problem("http://tools.example.com/hook", allow_private=False) == (
        "a tool endpoint must be https"
    )
    assert url_problem("http://127.0.0.1:9000/hook", allow_private=True) is None
    assert "not a public address" in (url_problem("https://10.0.0.8/x", allow_private=False) or "")
    assert "not a public address" in (url_problem("https://[::1]/x", allow_private=False) or "")
    assert "not a public host" in (url_problem("https://localhost/x", allow_private=False) or "")
    assert "credentials" in (
        url_problem("https://u:p@tools.example.com", allow_private=False) or ""
    )


class RecordingBackend(httpcore.AsyncNetworkBackend):
    """Records where it was asked to connect and refuses (no network in unit tests)."""

    def __init__(self) -> None:
        self.connects: list[str] = []

    async def connect_tcp(self, host: str, port: int, *args: Any, **kwargs: Any) -> Any:
        self.connects.append(host)
        raise httpcore.ConnectError("recorded")


def resolver(answers: dict[str, list[str]]) -> Any:
    async def resolve(host: str, port: int) -> list[Any]:
        return [ipaddress.ip_address(a) for a in answers[host]]

    return resolve


async def test_one_private_address_among_public_ones_refuses_the_name() -> None:
    inner = RecordingBackend()
    backend = GuardedBackend(
        allow_private=False,
        inner=inner,
        resolver=resolver({"tools.tenant.test": ["93.184.216.34", "10.0.0.5"]}),
    )
    with pytest.raises(TargetRefused, match=r"10\.0\.0\.5"):
        await backend.connect_tcp("tools.tenant.test", 443)
    assert inner.connects == []  # nothing was connected to


async def test_the_connection_goes_to_the_address_that_was_checked() -> None:
    inner = RecordingBackend()
    backend = GuardedBackend(
        allow_private=False,
        inner=inner,
        resolver=resolver({"tools.tenant.test": ["93.184.216.34", "93.184.216.35"]}),
    )
    with pytest.raises(httpcore.ConnectError):
        await backend.connect_tcp("tools.tenant.test", 443)
    # The name is never handed on to be resolved again (a second, rebound answer).
    assert inner.connects == ["93.184.216.34", "93.184.216.35"]


async def test_a_name_that_does_not_resolve_is_refused() -> None:
    async def nowhere(host: str, port: int) -> list[Any]:
        raise TargetRefused(f"{host} does not resolve")

    backend = GuardedBackend(allow_private=False, inner=RecordingBackend(), resolver=nowhere)
    with pytest.raises(TargetRefused, match="does not resolve"):
        await backend.connect_tcp("nowhere.invalid", 443)
