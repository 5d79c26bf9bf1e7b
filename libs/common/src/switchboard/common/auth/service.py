"""One service API's token check, wired in one call: the control plane's tokens for this
service's audience, public keys followed live on ``control.config`` (or given by
``SWITCHBOARD_AUTH__PUBLIC_KEYS``), and the per-tenant rate limit behind it.

    config = service_follower(..., prefixes=(*SLICE, *AUTH_PREFIXES))  # the process's one
    auth = api_auth(settings, Audience.HISTORY, config)                # runs it for the app
    Litestar(
        on_app_init=[auth.on_app_init, edge_rules(settings.edge)],
        lifespan=[auth.lifespan, ...],
        route_handlers=[*health_routes({**auth.checks(), **auth.config_checks(), ...}), ...],
    )

One follower per process: ``control.config`` is read from the beginning at start, so a second
follower for the keys would read the whole topic twice. The service's own follower (its slice
plus :data:`AUTH_PREFIXES`) is handed over and run by :attr:`ApiAuth.lifespan`, first, so the
keys and the service's configuration are read before the app serves. Without one (a tool, or
an API that reads no configuration of its own), ``api_auth`` makes one of the auth prefixes.

Routes then require scopes with :func:`~switchboard.common.auth.requires` or
:func:`~switchboard.common.auth.scoped`; the tenant is :func:`~switchboard.common.auth.tenant_of`
(the token's, nothing else).
"""

import contextlib
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Final, Protocol

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
from switchboard.common.config import (
    ConfigFollower,
    ConfigSettings,
    ConfigView,
    FollowedPublicKeys,
    Tenant,
)
from switchboard.common.http import ReadinessCheck
from switchboard.common.settings import KafkaSettings, RedisSettings
from switchboard.common.supervise import Supervisor

log = structlog.get_logger(__name__)

PUBLIC_KEYS_SETTING = "SWITCHBOARD_AUTH__PUBLIC_KEYS"
SIGNING_KEYS = "signing-key/"
TENANTS = "tenant/"
AUTH_PREFIXES: Final = (SIGNING_KEYS, TENANTS)
"""What the token check reads of ``control.config``: add them to an API process's follower."""


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
    audience: Audience
    config: ConfigView | None
    """The process's configuration, run by :meth:`lifespan`; None with static keys and no
    configuration given."""
    keys_followed: bool
    """The public keys are read in ``config`` (not ``SWITCHBOARD_AUTH__PUBLIC_KEYS``)."""
    loops: Supervisor

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        self.jwt.on_app_init(app_config)  # the bearer check first (outermost) ...
        limit = tenant_rate_limit(self.settings)
        if limit is not None:  # ... so the limit knows the tenant
            app_config.middleware.insert(1, limit.middleware)
            if self.settings.rate_limit_store == "redis":
                # Keys of this API's own: two APIs on one Redis database keep two limits.
                store = RedisStore.with_client(
                    url=self.redis_url, namespace=f"switchboard-{self.audience}-rate-limit"
                )
                if isinstance(app_config.stores, StoreRegistry):
                    app_config.stores.register(RATE_LIMIT_STORE, store)
                else:
                    app_config.stores = {**(app_config.stores or {}), RATE_LIMIT_STORE: store}
        return app_config

    @contextlib.asynccontextmanager
    async def lifespan(self, _: object) -> AsyncIterator[None]:
        """Follows the configuration (signing keys included) for as long as the app runs,
        restarted with backoff when Kafka fails (what was read so far keeps serving); with
        followed keys, waits up to ``keys_wait_s`` for them before serving."""
        async with self.loops.running():
            if self.config is not None and self.keys_followed:
                try:
                    await self.config.wait_ready(self.settings.keys_wait_s)
                except TimeoutError:
                    log.warning(
                        "signing keys not read yet: tokens get 401 until they are",
                        waited_s=self.settings.keys_wait_s,
                    )
            yield

    def checks(self) -> Mapping[str, ReadinessCheck]:
        """``/ready``: the signing keys have been read (always, with static keys)."""
        if self.config is None or not self.keys_followed:
            return {}
        return {"signing-keys": self.config.check}

    def config_checks(self) -> Mapping[str, ReadinessCheck]:
        """``/ready``: the follower's loop runs (``loop:config``; none without a follower)."""
        return self.loops.checks()


def api_auth(
    settings: ApiSettings, audience: Audience, config: ConfigView | None = None
) -> ApiAuth:
    """The token check of ``audience``'s API.

    ``config`` is the process's one view of ``control.config``, run by the returned
    :attr:`ApiAuth.lifespan` (the service must not run it too); when the keys are followed
    (no ``SWITCHBOARD_AUTH__PUBLIC_KEYS``) a follower must cover :data:`AUTH_PREFIXES`.
    Without ``config`` and without static keys, one follower of those prefixes is made.
    AuthNotConfiguredError names the setting when the static public keys cannot be read."""
    keys: PublicKeys
    tenant_check: TenantCheck | None = None
    keys_followed = not settings.auth.public_keys
    if not keys_followed:
        try:
            keys = StaticPublicKeys(settings.auth.public_keys)
        except TokenKeyError as exc:
            raise AuthNotConfiguredError(f"{PUBLIC_KEYS_SETTING}: {exc}") from exc
    else:
        if config is None:
            # Public keys and tenants carry no secret: no distribution ring needed to read them.
            config = ConfigFollower(
                settings.kafka,
                settings.config,
                prefixes=AUTH_PREFIXES,
                client_id=f"{settings.kafka.client_id}-{audience}-api-config",
            )
        elif isinstance(config, ConfigFollower):
            _check_covers(config, audience)
        keys = FollowedPublicKeys(config)
        tenant_check = _suspended_in(config)
    loops = Supervisor(f"{audience}-api")
    if config is not None:
        loops.add("config", config.run)
    verifier = TokenVerifier(audience, keys, issuer=settings.auth.issuer)
    return ApiAuth(
        jwt=ControlJWTAuth(verifier, tenant_check=tenant_check),
        settings=settings.auth,
        redis_url=settings.redis.url.get_secret_value(),
        audience=audience,
        config=config,
        keys_followed=keys_followed,
        loops=loops,
    )


def _check_covers(follower: ConfigFollower, audience: Audience) -> None:
    missing = [
        needed
        for needed in AUTH_PREFIXES
        if not any(needed.startswith(prefix) for prefix in follower.prefixes)
    ]
    if missing:
        raise ValueError(f"the {audience} API's configuration follower must also read {missing}")


def _suspended_in(config: ConfigView) -> TenantCheck:
    """Refuses the tenants the control plane has suspended (a tenant not in the view yet, just
    created, is not refused: its keys were checked by the control plane a moment ago)."""

    def check(tenant: str) -> str | None:
        entity = config.get(f"{TENANTS}{tenant}")
        if isinstance(entity, Tenant) and entity.status != "active":
            return f"tenant {tenant} is {entity.status}"
        return None

    return check
