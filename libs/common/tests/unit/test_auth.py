import json
import re
from pathlib import Path
from typing import Any

import pytest
import structlog
from litestar import Litestar, get, post
from litestar.di import NamedDependency, Provide
from litestar.testing import TestClient
from pydantic import BaseModel, SecretStr

from switchboard.common.auth import (
    EXAMPLE_KEYS,
    Audience,
    AuthNotConfiguredError,
    AuthSettings,
    LocalSigner,
    Scope,
    check_symmetric_key,
    refuse_example_keys,
    scoped,
    tenant_of,
)
from switchboard.common.auth.service import AUTH_PREFIXES, api_auth
from switchboard.common.config import (
    ConfigFollower,
    ConfigSettings,
    InMemoryConfig,
    SigningKey,
    Tenant,
)
from switchboard.common.crypto import KeyRingSettings
from switchboard.common.http import health_routes
from switchboard.common.settings import CommonSettings, KafkaSettings
from switchboard.common.testing import config_followers

SIGNER = LocalSigner("k1")


class Settings(CommonSettings):
    auth: AuthSettings = AuthSettings()
    config: ConfigSettings = ConfigSettings()


@get("/v1/whoami", sync_to_thread=False, guards=[scoped(Scope.CAMPAIGNS_READ, "-")])
def whoami(tenant: NamedDependency[str]) -> dict[str, Any]:
    return {"tenant": tenant, "logged_as": structlog.contextvars.get_contextvars().get("tenant")}


@post("/v1/whoami", sync_to_thread=False, guards=[scoped("-", Scope.CAMPAIGNS_WRITE)])
def write(tenant: NamedDependency[str]) -> dict[str, Any]:
    return {"tenant": tenant}


def client(**auth: Any) -> TestClient:  # type: ignore[type-arg]
    api = api_auth(Settings(auth=SIGNER.settings(**auth)), Audience.DIALER)
    app = Litestar(
        route_handlers=[whoami, write, *health_routes({**api.checks()})],
        on_app_init=[api.on_app_init],
        lifespan=[api.lifespan],
        dependencies={"tenant": Provide(tenant_of, sync_to_thread=False)},
    )
    return TestClient(app)


def test_tenant_comes_from_the_token() -> None:
    with client() as c:
        response = c.get("/v1/whoami", headers=SIGNER.bearer("acme", Audience.DIALER))
        assert response.status_code == 200
        # and every line the request logs names it
        assert response.json() == {"tenant": "acme", "logged_as": "acme"}


def test_another_audience_or_signer_is_401() -> None:
    with client() as c:
        assert c.get("/v1/whoami").status_code == 401
        other = c.get("/v1/whoami", headers=SIGNER.bearer("acme", Audience.HISTORY))
        assert other.status_code == 401
        stranger = LocalSigner("k1").bearer("acme", Audience.DIALER)  # same kid, other key
        assert c.get("/v1/whoami", headers=stranger).status_code == 401


def test_scoped_asks_the_read_scope_of_reads_and_the_write_scope_of_writes() -> None:
    read_only = SIGNER.bearer("acme", Audience.DIALER, scopes=[Scope.CAMPAIGNS_READ])
    write_only = SIGNER.bearer("acme", Audience.DIALER, scopes=[Scope.CAMPAIGNS_WRITE])
    with client() as c:
        assert c.get("/v1/whoami", headers=read_only).status_code == 200
        refused = c.post("/v1/whoami", headers=read_only)
        assert refused.status_code == 403 and "campaigns:write" in refused.text
        assert c.post("/v1/whoami", headers=write_only).status_code == 201
        assert c.get("/v1/whoami", headers=write_only).status_code == 403


def test_the_rate_limit_is_per_tenant() -> None:
    acme = SIGNER.bearer("acme", Audience.DIALER)
    globex = SIGNER.bearer("globex", Audience.DIALER)
    with client(rate_limit_per_second=3) as c:
        answers = [c.get("/v1/whoami", headers=acme).status_code for _ in range(6)]
        assert answers[:3] == [200, 200, 200] and 429 in answers[3:]
        # another tenant, from the same address, is not slowed by acme's burst
        assert c.get("/v1/whoami", headers=globex).status_code == 200
        assert c.get("/health").status_code == 200  # open paths are not limited


def test_unreadable_public_keys_name_the_setting() -> None:
    with pytest.raises(AuthNotConfiguredError, match="SWITCHBOARD_AUTH__PUBLIC_KEYS"):
        api_auth(Settings(auth=AuthSettings(public_keys={"k": "not a key"})), Audience.AI)


def signing_key(signer: LocalSigner) -> SigningKey:
    return SigningKey(kid=signer.kid, public_key=signer.public_keys[signer.kid])


def shared_client(view: InMemoryConfig, **auth: Any) -> TestClient:  # type: ignore[type-arg]
    """An API whose keys and tenants come from the process's view (no public key set)."""
    api = api_auth(Settings(auth=AuthSettings(**auth)), Audience.DIALER, view)
    app = Litestar(
        route_handlers=[whoami, *health_routes({**api.checks(), **api.config_checks()})],
        on_app_init=[api.on_app_init],
        lifespan=[api.lifespan],
        dependencies={"tenant": Provide(tenant_of, sync_to_thread=False)},
    )
    return TestClient(app)


def test_the_process_view_gives_the_keys_live_and_refuses_suspended_tenants() -> None:
    view = InMemoryConfig([signing_key(SIGNER)])
    with config_followers() as made, shared_client(view) as c:
        assert made == []  # the process's view is the one read: no follower of its own
        assert c.get("/ready").json()["checks"]["signing-keys"] is True
        acme = SIGNER.bearer("acme", Audience.DIALER)
        assert c.get("/v1/whoami", headers=acme).status_code == 200
        # A rotation is live: the next key verifies as soon as the view holds it ...
        rotated = LocalSigner("k2")
        next_acme = rotated.bearer("acme", Audience.DIALER)
        assert c.get("/v1/whoami", headers=next_acme).status_code == 401
        view.put(signing_key(rotated))
        assert c.get("/v1/whoami", headers=next_acme).status_code == 200
        # ... and a withdrawn one verifies nothing.
        view.delete(f"signing-key/{SIGNER.kid}")
        assert c.get("/v1/whoami", headers=acme).status_code == 401
        # A suspended tenant is refused at once, its unexpired tokens too.
        view.put(Tenant(id="acme", name="Acme", status="suspended"))
        refused = c.get("/v1/whoami", headers=next_acme)
        assert refused.status_code == 403 and "suspended" in refused.text


def test_ready_says_the_keys_are_missing_until_the_view_is_read() -> None:
    view = InMemoryConfig([signing_key(SIGNER)], ready=False)
    with shared_client(view, keys_wait_s=0) as c:
        ready = c.get("/ready")
        assert ready.status_code == 503 and ready.json()["checks"]["signing-keys"] is False
        view.ready = True
        assert c.get("/ready").status_code == 200


def test_a_follower_without_the_auth_prefixes_is_refused() -> None:
    narrow = ConfigFollower(KafkaSettings(), ConfigSettings(), prefixes=("account/",))
    with pytest.raises(ValueError, match="signing-key/"):
        api_auth(Settings(), Audience.HISTORY, narrow)
    wide = ConfigFollower(KafkaSettings(), ConfigSettings(), prefixes=("account/", *AUTH_PREFIXES))
    assert api_auth(Settings(), Audience.HISTORY, wide).config is wide


def test_static_keys_need_no_follower_and_one_is_made_only_without_a_view() -> None:
    with config_followers() as made:
        static = api_auth(Settings(auth=SIGNER.settings()), Audience.AI)
        assert made == [] and static.config is None and static.checks() == {}
        followed = api_auth(Settings(), Audience.AI)
    [follower] = made
    assert followed.config is follower and follower.prefixes == AUTH_PREFIXES


@get("/healthzzz", sync_to_thread=False)
def lookalike() -> dict[str, str]:
    return {"status": "secret"}


def test_open_paths_match_exactly_not_by_prefix() -> None:
    api = api_auth(Settings(auth=SIGNER.settings()), Audience.HISTORY)
    app = Litestar(route_handlers=[lookalike, *health_routes({})], on_app_init=[api.on_app_init])
    with TestClient(app) as c:
        assert c.get("/health").status_code == 200
        assert c.get("/healthzzz").status_code == 401
        assert c.get("/schema/openapi.json").status_code == 200


class Nested(BaseModel):
    keys: dict[str, SecretStr] = {}


class WithRings(CommonSettings):
    crypto: KeyRingSettings = KeyRingSettings()
    nested: Nested = Nested()


def test_example_keys_in_any_setting_stop_a_service_outside_local() -> None:
    for key in EXAMPLE_KEYS:
        settings = WithRings(nested=Nested(keys={"x": SecretStr(key)}))
        with pytest.raises(AuthNotConfiguredError, match="SWITCHBOARD_NESTED__KEYS"):
            refuse_example_keys(settings, environment="production")
        refuse_example_keys(settings, environment="local")  # the local stack keeps working
    ring = KeyRingSettings(keys={"r": next(iter(EXAMPLE_KEYS))}, current_key_id="r")
    with pytest.raises(AuthNotConfiguredError, match="SWITCHBOARD_CRYPTO__KEYS"):
        refuse_example_keys(WithRings(crypto=ring), environment="production")
    refuse_example_keys(WithRings(), environment="production")


def test_weak_symmetric_keys_are_refused_outside_local() -> None:
    for key in ["short-key", *EXAMPLE_KEYS]:
        with pytest.raises(AuthNotConfiguredError, match="SWITCHBOARD_X"):
            check_symmetric_key(key, setting="SWITCHBOARD_X", environment="production")
        check_symmetric_key(key, setting="SWITCHBOARD_X", environment="local")
    check_symmetric_key("k" * 32, setting="SWITCHBOARD_X", environment="production")


def test_example_keys_list_every_key_the_repository_prints() -> None:
    root = Path(__file__).resolve().parents[4]
    files = [
        *(str(p.relative_to(root)) for p in root.glob("scripts/local/*.env")),
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
        for ring in re.findall(r"_KEYS='?(\{[^}\n]*\})", text):
            found |= set(json.loads(ring).values())
    assert found, "the example files moved: update this test"
    assert found <= EXAMPLE_KEYS, found - EXAMPLE_KEYS
