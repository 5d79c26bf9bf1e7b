"""Rate limits key on the real client: behind trusted proxies, the rightmost X-Forwarded-For hop
that is not a proxy; the open paths are left out exactly, not by prefix."""

import re
from typing import Any

import pytest
from litestar.middleware.base import DefineMiddleware
from litestar.middleware.rate_limit import RateLimitMiddleware
from litestar.testing import TestClient

PEER_PROXY = "10.0.0.9"  # the ingress controller, as the ingress sees it


async def _get_or_post(
    app: Any, method: str, path: str, peer: str, headers: list[tuple[bytes, bytes]]
) -> int:
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "https",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"hooks.example.test"),
            (b"content-type", b"application/json"),
            *headers,
        ],
        "client": (peer, 40000),
        "server": ("hooks.example.test", 443),
        "state": {},
    }
    sent = False
    status: list[int] = []

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])

    await app(scope, receive, send)
    return status[0]


def request(
    client: TestClient,  # type: ignore[type-arg]
    *,
    forwarded: str | None = None,
    peer: str = PEER_PROXY,
    path: str = "/webhooks/vapi",
    method: str = "POST",
) -> int:
    headers = [(b"x-forwarded-for", forwarded.encode())] if forwarded else []
    return int(client.blocking_portal.call(_get_or_post, client.app, method, path, peer, headers))


@pytest.fixture(autouse=True)
def one_second(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every request of a test in the same second, however slow the machine: the limits
    counted here are per second."""
    monkeypatch.setattr("litestar.middleware.rate_limit.time", lambda: 1_000_000.0)


def test_a_flood_from_one_forwarded_client_does_not_429_the_others(make_client) -> None:
    """Before: every request came from the proxy's address, so one client's unsigned POSTs
    used up everybody's limit and providers' callbacks got 429 (Twilio does not retry them)."""
    with make_client(rate_limit_per_second=20, trusted_proxies=["10.0.0.0/8"]) as client:
        flood = [request(client, forwarded="198.51.100.7") for _ in range(40)]
        assert flood[:20] == [403] * 20  # unsigned: refused, and counted
        assert set(flood[20:]) == {429}
        # Other clients behind the same proxy: their own limits.
        assert request(client, forwarded="203.0.113.1") == 403
        assert request(client, forwarded="203.0.113.2, 10.0.0.3") == 403
        # A client cannot pick another key by writing the header itself: the proxy appends
        # the address it saw, and that rightmost untrusted hop is the key.
        assert request(client, forwarded="203.0.113.99, 198.51.100.7") == 429


def test_forwarded_for_is_ignored_from_untrusted_peers(make_client) -> None:
    with make_client(rate_limit_per_second=5, trusted_proxies=["10.0.0.0/8"]) as client:
        codes = [request(client, peer="192.0.2.50", forwarded=f"203.0.113.{n}") for n in range(10)]
    assert codes[:5] == [403] * 5 and set(codes[5:]) == {429}


def test_only_the_exact_open_paths_skip_the_rate_limit(make_client) -> None:
    """Before: the exclude list was matched anywhere in the path (``/health`` also excluded
    ``/healthzzz`` and ``/x/health``). No route of the ingress is such a path today (unrouted
    paths never reach the limiter), so the patterns themselves are checked."""
    with make_client(rate_limit_per_second=3) as client:
        assert [request(client, path="/health", method="GET") for _ in range(6)] == [200] * 6
        limited = [request(client, path="/webhooks/vapi") for _ in range(6)]
        assert limited[:3] == [403] * 3 and set(limited[3:]) == {429}
        [config] = [
            m.kwargs["config"]
            for m in client.app.middleware
            if isinstance(m, DefineMiddleware) and m.middleware is RateLimitMiddleware
        ]
    patterns = [re.compile(p) for p in config.exclude]

    def excluded(path: str) -> bool:
        return any(p.findall(path) for p in patterns)  # as Litestar matches them

    assert all(excluded(p) for p in ("/health", "/ready", "/metrics", "/schema/openapi.json"))
    assert not any(excluded(p) for p in ("/healthzzz", "/x/health", "/metrics2", "/readyz"))
