"""The shared edge rules: the real client behind trusted proxies, security headers and the
CORS allow-list every API gets from one call."""

from ipaddress import ip_network

import pytest
from litestar import Litestar, get
from litestar.testing import TestClient
from pydantic import ValidationError

from switchboard.common.edge import client_address, edge_rules
from switchboard.common.settings import CommonSettings, EdgeSettings

PROXIES = [ip_network("10.0.0.0/8"), ip_network("fd00::/8")]


def scope(peer: str, *forwarded: str) -> dict:
    return {
        "client": (peer, 1234),
        "headers": [(b"x-forwarded-for", f.encode()) for f in forwarded],
    }


@pytest.mark.parametrize(
    ("peer", "forwarded", "client"),
    [
        ("192.0.2.1", ["203.0.113.5"], "192.0.2.1"),  # untrusted peer: its header means nothing
        ("10.1.1.1", ["203.0.113.5"], "203.0.113.5"),
        ("10.1.1.1", ["198.51.100.1, 203.0.113.5, 10.2.2.2"], "203.0.113.5"),  # two proxies
        ("10.1.1.1", ["198.51.100.1", "203.0.113.5"], "203.0.113.5"),  # two headers, in order
        ("10.1.1.1", ["10.9.9.9, 10.8.8.8"], "10.9.9.9"),  # all trusted: the leftmost
        ("10.1.1.1", [], "10.1.1.1"),  # no header: the peer
        ("10.1.1.1", ["203.0.113.5:4711"], "203.0.113.5"),  # a port some proxies add
        ("10.1.1.1", ["[2001:db8::1]:443, fd00::2"], "2001:db8::1"),
        ("10.1.1.1", ["not-an-address"], "not-an-address"),  # still a key of its own
    ],
)
def test_the_client_is_the_rightmost_untrusted_hop(peer, forwarded, client) -> None:
    assert client_address(scope(peer, *forwarded), PROXIES) == client


def test_without_trusted_proxies_the_peer_is_the_client() -> None:
    assert client_address(scope("10.1.1.1", "203.0.113.5"), []) == "10.1.1.1"


def test_settings_read_from_the_environment(monkeypatch) -> None:
    monkeypatch.setenv("SWITCHBOARD_EDGE__TRUSTED_PROXIES", '["10.0.0.0/8"]')
    monkeypatch.setenv("SWITCHBOARD_EDGE__CORS_ORIGINS", '["https://console.example.com"]')
    edge = CommonSettings().edge
    assert edge.trusted_proxies == [ip_network("10.0.0.0/8")]
    assert edge.cors_origins == ["https://console.example.com"]


@pytest.mark.parametrize("origin", ["*", "https://x.test/path", "console.example.com", ""])
def test_cors_origins_are_exact_origins(origin) -> None:
    with pytest.raises(ValidationError, match="not an origin"):
        EdgeSettings(cors_origins=[origin])


@get("/v1/thing", sync_to_thread=False)
def thing() -> dict[str, str]:
    return {"ok": "yes"}


def app(**edge: object) -> Litestar:
    return Litestar([thing], on_app_init=[edge_rules(EdgeSettings(**edge))])  # type: ignore[arg-type]


def test_security_headers_and_request_id_on_every_answer() -> None:
    with TestClient(app()) as client:
        for response in (client.get("/v1/thing"), client.get("/nope")):
            assert response.headers["x-content-type-options"] == "nosniff"
            assert response.headers["x-frame-options"] == "DENY"
            assert response.headers["content-security-policy"].startswith("default-src 'none'")
            assert response.headers["strict-transport-security"].startswith("max-age=")
            assert response.headers["x-request-id"]


def test_cors_answers_only_the_allowed_origins() -> None:
    preflight = {
        "access-control-request-method": "GET",
        "access-control-request-headers": "authorization",
    }
    with TestClient(app(cors_origins=["https://console.example.com"])) as client:
        ok = client.options(
            "/v1/thing", headers={"origin": "https://console.example.com", **preflight}
        )
        assert ok.status_code in (200, 204)
        assert ok.headers["access-control-allow-origin"] == "https://console.example.com"
        assert "authorization" in ok.headers["access-control-allow-headers"].lower()
        got = client.get("/v1/thing", headers={"origin": "https://console.example.com"})
        assert got.headers["access-control-allow-origin"] == "https://console.example.com"
        evil = client.get("/v1/thing", headers={"origin": "https://evil.test"})
        assert "access-control-allow-origin" not in evil.headers
    with TestClient(app()) as closed:
        answer = closed.get("/v1/thing", headers={"origin": "https://console.example.com"})
        assert "access-control-allow-origin" not in answer.headers
