"""Every API's app factory applies the shared edge rules (``switchboard.common.edge``): security
headers and the request id on every answer, CORS for the configured origins only. Checked on
the real factories (their lifespans, which open the datastores, are not needed for /health)."""

import base64
from collections.abc import Callable

import pytest
from litestar import Litestar
from litestar.testing import TestClient

ORIGIN = "https://console.example.com"
KEY = base64.b64encode(b"e" * 32).decode()


def history() -> Litestar:
    from switchboard.history.app import create_api
    from switchboard.history.settings import HistorySettings

    return create_api(HistorySettings())


def dialer() -> Litestar:
    from switchboard.dialer.app import create_api
    from switchboard.dialer.settings import DialerSettings

    return create_api(DialerSettings())


def ai() -> Litestar:
    from switchboard.ai.app import create_api
    from switchboard.ai.settings import AiSettings

    return create_api(AiSettings())


def control() -> Litestar:
    from switchboard.control.app import create_api
    from switchboard.control.settings import ControlSettings

    return create_api(ControlSettings())


@pytest.fixture(autouse=True)
def env(monkeypatch) -> None:
    monkeypatch.setenv("SWITCHBOARD_ENVIRONMENT", "local")
    for ring in ("CRYPTO", "CONFIG"):
        monkeypatch.setenv(f"SWITCHBOARD_{ring}__KEYS", f'{{"k1": "{KEY}"}}')
        monkeypatch.setenv(f"SWITCHBOARD_{ring}__CURRENT_KEY_ID", "k1")
    monkeypatch.setenv("SWITCHBOARD_EDGE__CORS_ORIGINS", f'["{ORIGIN}"]')


@pytest.mark.parametrize("factory", [history, dialer, ai, control])
def test_security_headers_and_cors_on_every_api(factory: Callable[[], Litestar]) -> None:
    client = TestClient(factory())  # not entered: no lifespan, /health needs none
    answer = client.get("/health", headers={"origin": ORIGIN})
    assert answer.status_code == 200
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["content-security-policy"].startswith("default-src 'none'")
    assert answer.headers["x-request-id"]
    assert answer.headers["access-control-allow-origin"] == ORIGIN
    other = client.get("/health", headers={"origin": "https://evil.test"})
    assert "access-control-allow-origin" not in other.headers
    denied = client.get("/v1/nothing-here")  # a 401 or 404 carries them too
    assert denied.headers["x-frame-options"] == "DENY"
