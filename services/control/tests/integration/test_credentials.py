"""API keys for tokens: one audience each, the key's scopes only, secrets of 16+ characters.
On the real PostgreSQL; the tokens are checked by the verifier every service will use."""

import httpx
import pytest
from litestar import Litestar, get, post
from litestar.di import NamedDependency, Provide
from litestar.testing import AsyncTestClient

from switchboard.common.auth import (
    ControlJWTAuth,
    Scope,
    StaticPublicKeys,
    TokenRejected,
    TokenVerifier,
    requires,
    tenant_of,
)

pytestmark = pytest.mark.integration


async def public_keys(api: httpx.AsyncClient) -> StaticPublicKeys:
    keys = (await api.get("/v1/signing-keys")).json()
    return StaticPublicKeys({k["kid"]: k["public_key"] for k in keys})


async def new_key(world, tenant: str, scopes: list[str]) -> str:
    created = await world.admin(
        "POST", f"/tenants/{tenant}/api-keys", json={"name": "t", "scopes": scopes}
    )
    assert created.status_code == 201, created.text
    return str(created.json()["key"])


@get("/v1/calls", guards=[requires(Scope.HISTORY_READ)], sync_to_thread=False)
def calls(tenant: NamedDependency[str]) -> dict[str, str]:
    return {"tenant": tenant}


@post("/v1/campaigns", guards=[requires(Scope.CAMPAIGNS_WRITE)], sync_to_thread=False)
def campaigns(tenant: NamedDependency[str]) -> dict[str, str]:
    return {"tenant": tenant}


def service(audience: str, keys: StaticPublicKeys) -> Litestar:
    """A service API as phase 2 wires it: control-plane tokens for its audience, scopes."""
    auth = ControlJWTAuth(TokenVerifier(audience, keys))
    return Litestar(
        route_handlers=[calls, campaigns],
        on_app_init=[auth.on_app_init],
        dependencies={"tenant": Provide(tenant_of, sync_to_thread=False)},
    )


async def test_a_history_read_key_gets_a_history_token_without_campaigns_write(world) -> None:
    key = await new_key(world, "acme", ["history:read"])
    token = await world.token(key, "history")
    keys = await public_keys(world.api)
    principal = TokenVerifier("history", keys).verify(token)
    assert (principal.tenant, principal.scopes) == ("acme", {"history:read"})
    async with AsyncTestClient(service("history", keys)) as history:
        auth = {"authorization": f"Bearer {token}"}
        assert (await history.get("/v1/calls", headers=auth)).json() == {"tenant": "acme"}
        refused = await history.post("/v1/campaigns", headers=auth)
        assert refused.status_code == 403 and "campaigns:write" in refused.text
    # and it cannot be exchanged for a dialer token at all
    dialer = await world.api.post(
        "/v1/tokens", json={"audience": "dialer"}, headers={"authorization": f"Bearer {key}"}
    )
    assert dialer.status_code == 403 and "no scope for the audience dialer" in dialer.text


async def test_a_token_for_the_dialer_is_refused_by_history(world) -> None:
    key = await new_key(world, "acme", ["history:read", "campaigns:write"])
    dialer_token = await world.token(key, "dialer")
    keys = await public_keys(world.api)
    assert TokenVerifier("dialer", keys).verify(dialer_token).scopes == {"campaigns:write"}
    with pytest.raises(TokenRejected, match="Audience"):
        TokenVerifier("history", keys).verify(dialer_token)
    async with AsyncTestClient(service("history", keys)) as history:
        got = await history.get("/v1/calls", headers={"authorization": f"Bearer {dialer_token}"})
        assert got.status_code == 401


async def test_requested_scopes_are_a_subset_and_ttl_is_bounded(world) -> None:
    key = await new_key(world, "acme", ["campaigns:read", "campaigns:write"])
    auth = {"authorization": f"Bearer {key}"}
    narrow = await world.api.post(
        "/v1/tokens", json={"audience": "dialer", "scopes": ["campaigns:read"]}, headers=auth
    )
    assert narrow.json()["scope"] == "campaigns:read"
    beyond = await world.api.post(
        "/v1/tokens", json={"audience": "dialer", "scopes": ["history:read"]}, headers=auth
    )
    assert beyond.status_code == 403
    too_long = await world.api.post(
        "/v1/tokens", json={"audience": "dialer", "ttl_s": 10**6}, headers=auth
    )
    assert too_long.status_code == 422
    unknown_audience = await world.api.post("/v1/tokens", json={"audience": "x"}, headers=auth)
    assert unknown_audience.status_code == 422


async def test_revoked_wrong_and_suspended_keys_get_no_token(world) -> None:
    key = await new_key(world, "acme", ["history:read"])
    key_id = key.split("_")[1]
    wrong = key[:-2] + ("aa" if not key.endswith("aa") else "bb")
    for presented in (wrong, "sbk_nothing_here", "not-a-key"):
        answer = await world.api.post(
            "/v1/tokens",
            json={"audience": "history"},
            headers={"authorization": f"Bearer {presented}"},
        )
        assert answer.status_code == 401 and answer.json()["detail"] == "invalid API key"
    suspended = await world.admin("PATCH", "/tenants/acme", json={"status": "suspended"})
    assert suspended.status_code == 200
    refused = await world.api.post(
        "/v1/tokens", json={"audience": "history"}, headers={"authorization": f"Bearer {key}"}
    )
    assert refused.status_code == 403
    await world.admin("PATCH", "/tenants/acme", json={"status": "active"})
    assert (await world.admin("DELETE", f"/api-keys/{key_id}")).status_code == 204
    revoked = await world.api.post(
        "/v1/tokens", json={"audience": "history"}, headers={"authorization": f"Bearer {key}"}
    )
    assert revoked.status_code == 401


async def test_a_tenant_key_cannot_create_keys_beyond_its_own_scopes(world) -> None:
    created = await world.api.post(
        "/v1/api-keys", json={"name": "ci", "scopes": ["history:read"]}, headers=world.a
    )
    assert created.status_code == 403  # A's control key does not hold history:read
    ok = await world.api.post(
        "/v1/api-keys", json={"name": "ro", "scopes": ["control:read"]}, headers=world.a
    )
    assert ok.status_code == 201 and ok.json()["key"].startswith("sbk_")
    admin = await world.api.post(
        "/v1/api-keys", json={"name": "x", "scopes": ["tenants:admin"]}, headers=world.a
    )
    assert admin.status_code == 422
    listed = (await world.api.get("/v1/api-keys", headers=world.a)).json()
    assert "key" not in listed[0] and all(k["tenant"] == "acme" for k in listed)
    # B cannot revoke A's key: it is not there for B
    gone = await world.api.delete(f"/v1/api-keys/{ok.json()['id']}", headers=world.b)
    assert gone.status_code == 404


@pytest.mark.parametrize("bad", [[""], ["short-secret"], ["x" * 15]])
async def test_secrets_under_16_characters_are_refused_with_the_field_named(world, bad) -> None:
    put = await world.admin(
        "PUT", f"/accounts/twilio/{world.sid_a}", json={"tenants": ["acme"], "auth_tokens": bad}
    )
    assert put.status_code == 422
    assert put.json()["extra"][0]["key"] == "auth_tokens.0"
    assert "at least 16 characters" in put.json()["extra"][0]["message"]
    rotated = await world.api.put(
        "/v1/accounts/whatsapp/wa-acme/secrets", json={"app_secrets": bad}, headers=world.a
    )
    assert rotated.status_code == 422 and rotated.json()["extra"][0]["key"] == "app_secrets.0"


async def test_a_tenant_rotates_the_secrets_of_its_own_account(world) -> None:
    path = f"/v1/accounts/twilio/{world.sid_a}/secrets"
    both = {"auth_tokens": ["acme-auth-token-000002", "acme-auth-token-000001"]}
    rotated = await world.api.put(path, json=both, headers=world.a)
    assert rotated.status_code == 200, rotated.text
    assert rotated.json()["auth_tokens"] == ["**********", "**********"]  # never shown
    assert "acme-auth-token" not in rotated.text
    not_theirs = await world.api.put(
        f"/v1/accounts/twilio/{world.sid_b}/secrets", json=both, headers=world.a
    )
    assert not_theirs.status_code == 404
    not_a_secret = await world.api.put(path, json={"cps": 100}, headers=world.a)
    assert not_a_secret.status_code == 422 and not_a_secret.json()["extra"][0]["key"] == "cps"
