"""Control-plane tokens: EdDSA by key id, one audience each, scopes enforced by a guard."""

from datetime import timedelta
from typing import Any

import jwt
import pytest
from litestar import Litestar, get, post
from litestar.di import NamedDependency, Provide
from litestar.openapi import OpenAPIConfig
from litestar.testing import TestClient

from switchboard.common.auth import (
    Audience,
    ControlJWTAuth,
    Scope,
    StaticPublicKeys,
    TokenRejected,
    TokenVerifier,
    mint_token,
    requires,
    scopes_for,
    tenant_of,
)
from switchboard.common.auth.tokens import (
    generate_private_key,
    load_private_key,
    private_key_pem,
    public_key_pem,
)
from switchboard.common.http import health_routes

OLD, NEW = generate_private_key(), generate_private_key()
KEYS = StaticPublicKeys({"k-old": public_key_pem(OLD), "k-new": public_key_pem(NEW)})


def token(
    audience: str = "history",
    *,
    key: Any = NEW,
    kid: str = "k-new",
    scopes: tuple[str, ...] = ("history:read",),
    tenant: str | None = "acme",
    ttl: timedelta = timedelta(minutes=5),
) -> str:
    return mint_token(
        key, kid, audience=audience, subject="key-1", tenant=tenant, scopes=scopes, ttl=ttl
    )


def test_verifies_by_key_id_and_gives_tenant_and_scopes() -> None:
    verifier = TokenVerifier("history", KEYS)
    principal = verifier.verify(token())
    assert (principal.tenant, principal.subject) == ("acme", "key-1")
    assert principal.scopes == {"history:read"}
    # a token of the previous key is still accepted while that key is published
    assert verifier.verify(token(key=OLD, kid="k-old")).tenant == "acme"
    assert verifier.verify(token(tenant=None)).tenant is None  # the operator


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (lambda: token("dialer"), "Audience"),
        (lambda: token(ttl=timedelta(minutes=-5)), "expired"),
        (lambda: token(kid="k-gone"), "unknown signing key"),
        (lambda: token(key=OLD, kid="k-new"), "Signature"),
        (lambda: jwt.encode({"aud": "history"}, "x" * 32, algorithm="HS256"), "EdDSA"),
        (lambda: "not-a-token", "malformed"),
    ],
)
def test_refuses_other_audiences_expired_unknown_forged_and_hmac(bad, reason) -> None:
    with pytest.raises(TokenRejected, match=reason):
        TokenVerifier("history", KEYS).verify(bad())


def test_keys_round_trip_as_pem() -> None:
    again = load_private_key(private_key_pem(NEW))
    assert public_key_pem(again) == public_key_pem(NEW)


def test_scopes_for_an_audience_are_only_that_services_scopes() -> None:
    held = {"history:read", "campaigns:write", "tenants:admin"}
    assert scopes_for(Audience.HISTORY, held) == {"history:read"}
    assert scopes_for(Audience.DIALER, held) == {"campaigns:write"}
    assert scopes_for(Audience.AI, held) == set()


@get("/v1/calls", guards=[requires(Scope.HISTORY_READ)], sync_to_thread=False)
def calls(tenant: NamedDependency[str]) -> dict[str, str]:
    return {"tenant": tenant}


@post("/v1/campaigns", guards=[requires(Scope.CAMPAIGNS_WRITE)], sync_to_thread=False)
def campaigns(tenant: NamedDependency[str]) -> dict[str, str]:
    return {"tenant": tenant}


@get("/healthzzz", sync_to_thread=False)
def lookalike() -> dict[str, str]:
    return {"status": "secret"}


def client(audience: str) -> TestClient:  # type: ignore[type-arg]
    auth = ControlJWTAuth(TokenVerifier(audience, KEYS))
    app = Litestar(
        route_handlers=[calls, campaigns, lookalike, *health_routes({})],
        on_app_init=[auth.on_app_init],
        dependencies={"tenant": Provide(tenant_of, sync_to_thread=False)},
        openapi_config=OpenAPIConfig(title="t", version="1"),
    )
    return TestClient(app)


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


def test_api_requires_the_audience_and_the_scope() -> None:
    with client("history") as c:
        assert c.get("/v1/calls", headers=bearer(token())).json() == {"tenant": "acme"}
        assert c.get("/v1/calls").status_code == 401
        assert c.get("/v1/calls", headers=bearer(token("dialer"))).status_code == 401
        # a history:read token cannot create campaigns
        refused = c.post("/v1/campaigns", headers=bearer(token()))
        assert refused.status_code == 403 and "campaigns:write" in refused.text
        operator = token(tenant=None, scopes=("history:read",))
        assert c.get("/v1/calls", headers=bearer(operator)).status_code == 403


def test_open_paths_are_exact_and_the_schema_documents_bearer() -> None:
    with client("history") as c:
        assert c.get("/health").status_code == 200
        assert c.get("/healthzzz").status_code == 401
        schema = c.get("/schema/openapi.json").json()
        assert "BearerToken" in schema["components"]["securitySchemes"]
