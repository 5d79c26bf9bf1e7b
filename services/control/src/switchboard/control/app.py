"""Composition root: ``create_api`` (the control API, with the outbox relay and housekeeping
supervised in the same process) and ``open_plane`` (the CLI's commands)."""

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
from litestar import Litestar, MediaType, Request, Response
from litestar.di import Provide
from litestar.exceptions import ValidationException
from litestar.openapi import OpenAPIConfig
from litestar.status_codes import (
    HTTP_401_UNAUTHORIZED,
    HTTP_403_FORBIDDEN,
    HTTP_404_NOT_FOUND,
    HTTP_409_CONFLICT,
    HTTP_422_UNPROCESSABLE_ENTITY,
    HTTP_503_SERVICE_UNAVAILABLE,
)
from pydantic import ValidationError

from switchboard.common.auth import (
    OPEN_PATHS,
    Audience,
    ControlJWTAuth,
    Principal,
    TokenVerifier,
    tenant_of,
)
from switchboard.common.cli import configure_process
from switchboard.common.crypto import Cipher
from switchboard.common.edge import edge_rules
from switchboard.common.http import health_routes
from switchboard.common.runtime import settled_after_startup
from switchboard.common.supervise import Supervisor
from switchboard.control.adapters.credentials import PostgresCredentials
from switchboard.control.adapters.outbox import PostgresOutbox
from switchboard.control.adapters.postgres import PostgresEntities
from switchboard.control.adapters.rows import create_pool
from switchboard.control.api import (
    OperatorController,
    TenantController,
    TokenController,
    principal_of,
)
from switchboard.control.errors import (
    BadCredentials,
    ChannelUnavailable,
    Conflict,
    Forbidden,
    InvalidRequest,
    NotFound,
    StoreUnavailable,
)
from switchboard.control.handlers import ControlPlane, utcnow
from switchboard.control.migrate import migrate
from switchboard.control.models import validation_errors
from switchboard.control.relay import Relay, housekeeping
from switchboard.control.settings import ControlSettings, get_settings
from switchboard.control.signing import KnownPublicKeys

TOKEN_PATHS = ("/v1/tokens", "/v1/signing-keys")
"""Open to anyone: the token exchange authenticates with an API key itself."""


def _problem(status: int) -> Callable[[Request[Any, Any, Any], Exception], Response[Any]]:
    def handler(_: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
        body: dict[str, Any] = {"status_code": status, "detail": str(exc)}
        if isinstance(exc, InvalidRequest) and exc.errors:
            body["extra"] = exc.errors
        headers = {"Retry-After": "1"} if status == HTTP_503_SERVICE_UNAVAILABLE else None
        return Response(body, status_code=status, media_type=MediaType.JSON, headers=headers)

    return handler


def _invalid(_: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    """Validation failures answer 422 naming each field (Litestar's default is 400)."""
    if isinstance(exc, ValidationError):
        extra: Any = validation_errors(exc)
        detail = "invalid request"
    else:
        assert isinstance(exc, ValidationException)
        extra, detail = exc.extra, exc.detail
    return Response(
        {"status_code": HTTP_422_UNPROCESSABLE_ENTITY, "detail": detail, "extra": extra},
        status_code=HTTP_422_UNPROCESSABLE_ENTITY,
        media_type=MediaType.JSON,
    )


EXCEPTION_HANDLERS: dict[int | type[Exception], Any] = {
    BadCredentials: _problem(HTTP_401_UNAUTHORIZED),
    Forbidden: _problem(HTTP_403_FORBIDDEN),
    ChannelUnavailable: _problem(HTTP_403_FORBIDDEN),
    NotFound: _problem(HTTP_404_NOT_FOUND),
    Conflict: _problem(HTTP_409_CONFLICT),
    InvalidRequest: _problem(HTTP_422_UNPROCESSABLE_ENTITY),
    StoreUnavailable: _problem(HTTP_503_SERVICE_UNAVAILABLE),
    ValidationException: _invalid,
    ValidationError: _invalid,
}


@dataclass
class Runtime:
    """What one process holds open: the pool and the use cases over it."""

    pool: "asyncpg.Pool[Any]"
    plane: ControlPlane
    outbox: PostgresOutbox


@contextlib.asynccontextmanager
async def open_plane(
    settings: ControlSettings,
    *,
    clock: Callable[[], datetime] = utcnow,
    public_keys: KnownPublicKeys | None = None,
) -> AsyncIterator[Runtime]:
    """Migrate, open the pool, wire the stores (the API's lifespan and every CLI command)."""
    cipher = Cipher.from_settings(settings.crypto)
    await asyncio.to_thread(migrate, settings.postgres, settings.database)
    pg = settings.postgres
    pool = await create_pool(pg.dsn(settings.database), pg.min_pool, pg.max_pool)
    try:
        plane = ControlPlane(
            PostgresEntities(pool, cipher),
            PostgresCredentials(pool),
            cipher,
            settings.tokens,
            clock=clock,
            public_keys=public_keys or KnownPublicKeys(),
        )
        yield Runtime(pool, plane, PostgresOutbox(pool, cipher))
    finally:
        await pool.close()


def create_api(settings: ControlSettings, *, clock: Callable[[], datetime] = utcnow) -> Litestar:
    """The control API; its process also runs the relay and housekeeping (supervised)."""
    Cipher.from_settings(settings.crypto)  # a bad ring stops the start, naming the setting
    settings.config.sealing_cipher()
    known = KnownPublicKeys()
    verifier = TokenVerifier(Audience.CONTROL, known, issuer=settings.tokens.issuer)
    auth = ControlJWTAuth(verifier, exclude=(*OPEN_PATHS, *TOKEN_PATHS))
    state: dict[str, Any] = {}
    supervisor = Supervisor(settings.service_name)
    supervisor.add("relay", lambda: state["relay"].run())
    supervisor.add(
        "housekeeping",
        lambda: housekeeping(state["runtime"].plane, state["runtime"].outbox, settings.relay),
    )

    @contextlib.asynccontextmanager
    async def lifespan(_: Litestar) -> AsyncIterator[None]:
        async with open_plane(settings, clock=clock, public_keys=known) as runtime:
            await runtime.plane.ensure_signing_key()
            state["runtime"] = runtime
            state["relay"] = Relay(runtime.outbox, settings.kafka, settings.config, settings.relay)
            async with supervisor.running():
                yield

    async def active_tenant(request: Request[Principal, Any, Any]) -> str:
        # Tokens outlive a suspension or deletion by up to their lifetime: check every request.
        tenant = tenant_of(request)
        known = await state["runtime"].plane.entities.get_tenant(tenant)
        if known is None or known.status != "active":
            raise Forbidden(f"tenant {tenant} is suspended or deleted")
        return tenant

    async def store_ready() -> bool:
        return "runtime" in state and await state["runtime"].plane.entities.is_ready()

    return Litestar(
        route_handlers=[
            TokenController,
            OperatorController,
            TenantController,
            # Kafka away only delays distribution (changes wait in the outbox): degraded.
            *health_routes({"postgres": store_ready}, degraded_checks=supervisor.checks()),
        ],
        dependencies={
            "plane": Provide(lambda: state["runtime"].plane, sync_to_thread=False),
            "tenant": Provide(active_tenant),
            "principal": Provide(principal_of, sync_to_thread=False),
        },
        exception_handlers=EXCEPTION_HANDLERS,
        on_app_init=[auth.on_app_init, edge_rules(settings.edge)],
        lifespan=[lifespan],
        openapi_config=OpenAPIConfig(title="Switchboard control plane", version="0.1.0"),
        logging_config=None,  # logs go through common.logging's structlog handler
    )


def api_from_env() -> Litestar:
    settings = get_settings()
    configure_process(settings, "api")
    return settled_after_startup(create_api(settings))
