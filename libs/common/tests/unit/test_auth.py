import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import structlog
from litestar import Litestar, get
from litestar.di import NamedDependency, Provide
from litestar.testing import TestClient
from pydantic import SecretStr

from switchboard.common.auth import (
    EXAMPLE_KEYS,
    AuthNotConfiguredError,
    AuthSettings,
    issue_token,
    tenant_jwt_auth,
    tenant_of,
)
from switchboard.common.http import health_routes

KEY = "k" * 32


@get("/v1/whoami", sync_to_thread=False)
def whoami(tenant: NamedDependency[str]) -> dict[str, Any]:
    return {"tenant": tenant, "logged_as": structlog.contextvars.get_contextvars().get("tenant")}


def client(settings: AuthSettings) -> TestClient:  # type: ignore[type-arg]
    auth = tenant_jwt_auth(settings, environment="local")
    app = Litestar(
        route_handlers=[whoami, *health_routes({})],
        on_app_init=[auth.on_app_init],
        dependencies={"tenant": Provide(tenant_of, sync_to_thread=False)},
    )
    return TestClient(app)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_tenant_comes_from_the_token() -> None:
    with client(AuthSettings(jwt_key=SecretStr(KEY))) as c:
        response = c.get("/v1/whoami", headers=bearer(issue_token(KEY, "acme")))
        assert response.status_code == 200
        # and every line the request logs names it
        assert response.json() == {"tenant": "acme", "logged_as": "acme"}


def test_missing_forged_expired_and_tenantless_tokens_are_401() -> None:
    with client(AuthSettings(jwt_key=SecretStr(KEY))) as c:
        assert c.get("/v1/whoami").status_code == 401
        forged = issue_token("x" * 32, "acme")
        assert c.get("/v1/whoami", headers=bearer(forged)).status_code == 401
        expired = issue_token(KEY, "acme", ttl=timedelta(seconds=-60))
        assert c.get("/v1/whoami", headers=bearer(expired)).status_code == 401
        assert c.get("/v1/whoami", headers=bearer(issue_token(KEY, ""))).status_code == 401


def test_audience_is_enforced_when_configured() -> None:
    settings = AuthSettings(jwt_key=SecretStr(KEY), jwt_audience="switchboard-api")
    with client(settings) as c:
        good = issue_token(KEY, "acme", audience="switchboard-api")
        assert c.get("/v1/whoami", headers=bearer(good)).status_code == 200
        other = issue_token(KEY, "acme", audience="other")
        assert c.get("/v1/whoami", headers=bearer(other)).status_code == 401


def test_health_stays_open() -> None:
    with client(AuthSettings(jwt_key=SecretStr(KEY))) as c:
        assert c.get("/health").status_code == 200


def test_refuses_to_start_without_a_key() -> None:
    with pytest.raises(AuthNotConfiguredError):
        tenant_jwt_auth(AuthSettings(), environment="local")


@get("/healthzzz", sync_to_thread=False)
def lookalike() -> dict[str, str]:
    return {"status": "secret"}


def test_open_paths_match_exactly_not_by_prefix() -> None:
    auth = tenant_jwt_auth(AuthSettings(jwt_key=SecretStr(KEY)), environment="local")
    app = Litestar(route_handlers=[lookalike, *health_routes({})], on_app_init=[auth.on_app_init])
    with TestClient(app) as c:
        assert c.get("/health").status_code == 200
        assert c.get("/healthzzz").status_code == 401
        assert c.get("/schema/openapi.json").status_code == 200


def test_weak_or_example_keys_stop_the_api_outside_local() -> None:
    for key in ["short-key", *EXAMPLE_KEYS]:
        settings = AuthSettings(jwt_key=SecretStr(key))
        with pytest.raises(AuthNotConfiguredError, match="SWITCHBOARD_AUTH__JWT_KEY"):
            tenant_jwt_auth(settings, environment="production")
        tenant_jwt_auth(settings, environment="local")  # the local stack keeps working
    tenant_jwt_auth(AuthSettings(jwt_key=SecretStr(KEY)), environment="production")


def test_example_keys_list_every_key_the_repository_prints() -> None:
    root = Path(__file__).resolve().parents[4]
    files = [
        "scripts/local/common.env",
        "compose/.env.example",
        "k8s/overlays/dev/secrets.yaml",
        *(str(p.relative_to(root)) for p in root.glob("services/*/README.md")),
        "README.md",
    ]
    found: set[str] = set()
    for name in files:
        text = (root / name).read_text()
        found |= set(re.findall(r"JWT_KEY=[']?([^\s'\"]+)", text))
        found |= set(re.findall(r"jwt-key: (\S+)", text))
    assert found, "the example files moved: update this test"
    assert found <= EXAMPLE_KEYS, found - EXAMPLE_KEYS
