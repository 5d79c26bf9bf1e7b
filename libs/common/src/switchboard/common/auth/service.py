"""One service API's token check, wired in one call: the control plane's tokens for this
service's audience, public keys followed live on ``control.config`` (or given by
``SWITCHBOARD_AUTH__PUBLIC_KEYS``), and the per-tenant rate limit behind it.

    auth = api_auth(settings, Audience.HISTORY)
    Litestar(
        on_app_init=[auth.on_app_init, edge_rules(settings.edge)],
        lifespan=[auth.lifespan, ...],
        route_handlers=[*health_routes({**auth.checks(), ...}), ...],
    )

Routes then require scopes with :func:`~switchboard.common.auth.requires` or
:func:`~switchboard.common.auth.scoped`; the tenant is :func:`~switchboard.common.auth.tenant_of`
(the token's, nothing else).
"""

import contextlib
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Protocol

import structlog
from litestar.config.app import AppConfig
from litestar.stores.redis import RedisStore
from litestar.stores.registry import StoreRegistry

from switchboard.common.auth.middleware import ControlJWTAuth, TenantCheck
from switchboard.common.auth.principal import AuthNotConfiguredError
from switchboard.common.auth.ratelimit import RATE_LIMIT_STORE, tenant_rate_limit
from switchboard.common.auth.scopes import Audience
from switchboard.common.auth.settings import AuthSettings
from switchboard.common.auth.tokens import (
    PublicKeys,
    StaticPublicKeys,
    TokenKeyError,
    TokenVerifier,
)
from switchboard.common.config import ConfigFollower, ConfigSettings, Tenant
from switchboard.common.http import ReadinessCheck
from switchboard.common.settings import KafkaSettings, RedisSettings
from switchboard.common.supervise import Supervisor

log = structlog.get_logger(__name__)

PUBLIC_KEYS_SETTING = "SWITCHBOARD_AUTH__PUBLIC_KEYS"
SIGNING_KEYS = "signing-key/"
TENANTS = "tenant/"


class ApiSettings(Protocol):
    """What :func:`api_auth` reads of a service's settings."""

    @property
    def auth(self) -> AuthSettings: ...
    @property
    def kafka(self) -> KafkaSettings: ...
    @property
    def config(self) -> ConfigSettings: ...
    @property
    def redis(self) -> RedisSettings: ...


@dataclass(frozen=True, slots=True)
class ApiAuth:
    """The pieces a Litestar app needs (see the module docstring)."""

    jwt: ControlJWTAuth
    settings: AuthSettings
    redis_url: str
    follower: ConfigFollower | None
    """None with static public keys."""

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        self.jwt.on_app_init(app_config)  # the bearer check first (outermost) ...
        limit = tenant_rate_limit(self.settings)
        if limit is not None:  # ... so the limit knows the tenant
            app_config.middleware.insert(1, limit.middleware)
            if self.settings.rate_limit_store == "redis":
                store = RedisStore.with_client(url=self.redis_url)
                if isinstance(app_config.stores, StoreRegistry):
                    app_config.stores.register(RATE_LIMIT_STORE, store)
                else:
                    app_config.stores = {**(app_config.stores or {}), RATE_LIMIT_STORE: store}
        return app_config

    @contextlib.asynccontextmanager
    async def lifespan(self, _: object) -> AsyncIterator[None]:
        """Follows the signing keys for as long as the app runs (restarted with backoff when
        Kafka fails; the keys read so far keep verifying)."""
        if self.follower is None:
            yield
            return
        supervisor = Supervisor("token-keys")
        supervisor.add("signing-keys", self.follower.run)
        async with supervisor.running():
            try:
                await self.follower.wait_ready(self.settings.keys_wait_s)
            except TimeoutError:
                log.warning(
                    "signing keys not read yet: tokens get 401 until they are",
                    waited_s=self.settings.keys_wait_s,
                )
            yield

    def checks(self) -> Mapping[str, ReadinessCheck]:
        """``/ready``: the signing keys have been read (always, with static keys)."""
        if self.follower is None:
            return {}
        return {"signing-keys": self.follower.check}


def api_auth(settings: ApiSettings, audience: Audience) -> ApiAuth:
    """The token check of ``audience``'s API; AuthNotConfiguredError names the setting when
    the static public keys cannot be read."""
    keys: PublicKeys
    follower: ConfigFollower | None = None
    if settings.auth.public_keys:
        try:
            keys = StaticPublicKeys(settings.auth.public_keys)
        except TokenKeyError as exc:
            raise AuthNotConfiguredError(f"{PUBLIC_KEYS_SETTING}: {exc}") from exc
    else:
        # Public keys and tenants carry no secret: no distribution ring needed to read them.
        follower = ConfigFollower(
            settings.kafka,
            settings.config,
            prefixes=(SIGNING_KEYS, TENANTS),
            client_id=f"{settings.kafka.client_id}-{audience}-token-keys",
        )
        keys = follower.public_keys()
    verifier = TokenVerifier(audience, keys, issuer=settings.auth.issuer)
    return ApiAuth(
        jwt=ControlJWTAuth(
            verifier, tenant_check=_suspended_in(follower) if follower is not None else None
        ),
        settings=settings.auth,
        redis_url=settings.redis.url.get_secret_value(),
        follower=follower,
    )


def _suspended_in(follower: ConfigFollower) -> TenantCheck:
    """Refuses the tenants the control plane has suspended (a tenant not in the view yet, just
    created, is not refused: its keys were checked by the control plane a moment ago)."""

    def check(tenant: str) -> str | None:
        entity = follower.get(f"{TENANTS}{tenant}")
        if isinstance(entity, Tenant) and entity.status != "active":
            return f"tenant {tenant} is {entity.status}"
        return None

    return check
