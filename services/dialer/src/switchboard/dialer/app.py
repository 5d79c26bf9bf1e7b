"""Composition root: ``create_api`` (campaigns API) and ``create_worker`` (dial loop,
recovery, outbox relay under a supervisor, consumers, /health /ready /metrics)."""

import asyncio
import contextlib
import functools
import multiprocessing
import os
import socket
from collections.abc import AsyncIterator
from concurrent.futures import Executor, ProcessPoolExecutor
from typing import Any

import redis.asyncio as aioredis
import structlog
from litestar import Litestar, MediaType, Request, Response
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.status_codes import (
    HTTP_404_NOT_FOUND,
    HTTP_409_CONFLICT,
    HTTP_422_UNPROCESSABLE_ENTITY,
    HTTP_503_SERVICE_UNAVAILABLE,
)

from switchboard.common.asyncapi import asyncapi_routes, declare_publications, document
from switchboard.common.auth import Audience, tenant_of
from switchboard.common.auth.service import AUTH_PREFIXES, api_auth
from switchboard.common.cli import configure_process
from switchboard.common.config import ConfigFollower, ConfigView
from switchboard.common.config.startup import service_follower
from switchboard.common.edge import edge_rules
from switchboard.common.http import health_routes
from switchboard.common.kafka import create_broker, ensure_topics
from switchboard.common.runtime import settled_after_startup
from switchboard.common.supervise import Supervisor
from switchboard.common.topics import CALL_EVENTS, DIAL_COMMANDS, MESSAGE_INBOUND, dlq
from switchboard.dialer.accounts import PREFIXES, Accounts
from switchboard.dialer.adapters.postgres import PostgresCampaignStore, create_pool
from switchboard.dialer.adapters.postgres_dialing import PostgresDialingStore
from switchboard.dialer.adapters.redis_pacer import RedisPacer
from switchboard.dialer.adapters.twilio import TwilioCallPlacer
from switchboard.dialer.api import CampaignController, DncController
from switchboard.dialer.consumers import create_router
from switchboard.dialer.errors import (
    CampaignNotFound,
    InvalidCampaign,
    InvalidTransition,
    StoreUnavailable,
)
from switchboard.dialer.migrate import migrate
from switchboard.dialer.models import Clock, utcnow
from switchboard.dialer.phones import normalize_rows
from switchboard.dialer.relay import run_relay
from switchboard.dialer.repository import CallPlacer
from switchboard.dialer.settings import DialerSettings, get_settings
from switchboard.dialer.worker import DialWorker

log = structlog.get_logger(__name__)
DESCRIPTION = (
    "The dialer worker: reads call outcomes (call.events) and STOP replies (message.inbound) to "
    "settle attempts and keep the do-not-call list; publishes attempt events and campaign "
    "commands through its transactional outbox; every replica hears every dial command."
)
TOPICS = (CALL_EVENTS, MESSAGE_INBOUND, DIAL_COMMANDS, dlq(CALL_EVENTS), dlq(MESSAGE_INBOUND))


def _problem(status: int) -> Any:
    def handler(_: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
        headers = {"Retry-After": "1"} if status == HTTP_503_SERVICE_UNAVAILABLE else None
        return Response(
            {"status_code": status, "detail": str(exc)},
            status_code=status,
            media_type=MediaType.JSON,
            headers=headers,
        )

    return handler


def redis_client(settings: DialerSettings) -> "aioredis.Redis":
    """A client whose pool waits for a free connection instead of failing when busy."""
    pool = aioredis.BlockingConnectionPool.from_url(
        settings.redis.url.get_secret_value(),
        max_connections=settings.redis_max_connections,
        timeout=settings.twilio.request_timeout_s,
        socket_timeout=settings.redis.socket_timeout_s,
        socket_connect_timeout=settings.redis.connect_timeout_s,
    )
    return aioredis.Redis(connection_pool=pool)


LEGACY_ENV = ("SWITCHBOARD_TWILIO__ACCOUNTS", "SWITCHBOARD_TWILIO__DEFAULT_ACCOUNT")


def follow_config(
    settings: DialerSettings, role: str, prefixes: tuple[str, ...] = PREFIXES
) -> ConfigFollower:
    """The follower of the dialer's slice of ``control.config`` (``prefixes``)."""
    return service_follower(
        settings.kafka,
        settings.config,
        process=f"dialer-{role}",
        prefixes=prefixes,
        needs_keys="the dialer cannot read a single Twilio credential",
        legacy_env=LEGACY_ENV,
        legacy_what="Twilio accounts, caller IDs and limits",
    )


def create_api(
    settings: DialerSettings, *, config: ConfigView | None = None, clock: Clock = utcnow
) -> Litestar:
    """The campaigns API (JWT with a ``tenant`` claim). Without ``config`` it follows
    ``control.config`` (the tenants' accounts, caller IDs and limits, and the signing keys:
    one follower, run by the token check's lifespan)."""
    view = (
        config
        if config is not None
        else follow_config(settings, "api", (*PREFIXES, *AUTH_PREFIXES))
    )
    auth = api_auth(settings, Audience.DIALER, view)
    state: dict[str, Any] = {}
    accounts = Accounts(view)

    @contextlib.asynccontextmanager
    async def lifespan(_: Litestar) -> AsyncIterator[None]:
        await asyncio.to_thread(migrate, settings.postgres, settings.database)
        pg = settings.postgres
        pool = await create_pool(pg.dsn(settings.database), pg.min_pool, pg.max_pool)
        state["store"] = PostgresCampaignStore(pool)
        executor: Executor | None = None
        if settings.upload_processes > 0:
            executor = ProcessPoolExecutor(
                settings.upload_processes, mp_context=multiprocessing.get_context("spawn")
            )
            # Warm the processes up (imports, phonenumbers metadata) before the first upload.
            loop = asyncio.get_running_loop()
            await asyncio.gather(
                *(
                    loop.run_in_executor(
                        executor, normalize_rows, [(1, "+12125550100", None, None)], None
                    )
                    for _ in range(settings.upload_processes)
                )
            )
        state["executor"] = executor
        try:
            yield
        finally:
            if executor is not None:
                executor.shutdown(cancel_futures=True)
            await pool.close()

    async def store_ready() -> bool:
        return "store" in state and bool(await state["store"].is_ready())

    return Litestar(
        logging_config=None,  # logs go through common.logging's structlog handler
        route_handlers=[
            CampaignController,
            DncController,
            *health_routes(
                {
                    "postgres": store_ready,
                    "config": view.check,
                    **auth.config_checks(),
                    **auth.checks(),
                }
            ),
        ],
        dependencies={
            "tenant": Provide(tenant_of, sync_to_thread=False),
            "store": Provide(lambda: state["store"], sync_to_thread=False),
            "executor": Provide(lambda: state["executor"], sync_to_thread=False),
            "settings": Provide(lambda: settings, sync_to_thread=False),
            "accounts": Provide(lambda: accounts, sync_to_thread=False),
            "clock": Provide(lambda: clock, sync_to_thread=False),
        },
        exception_handlers={
            CampaignNotFound: _problem(HTTP_404_NOT_FOUND),
            InvalidTransition: _problem(HTTP_409_CONFLICT),
            InvalidCampaign: _problem(HTTP_422_UNPROCESSABLE_ENTITY),
            StoreUnavailable: _problem(HTTP_503_SERVICE_UNAVAILABLE),
        },
        on_app_init=[auth.on_app_init, edge_rules(settings.edge)],
        lifespan=[auth.lifespan, lifespan],
        openapi_config=OpenAPIConfig(title="Switchboard dialer", version="0.1.0"),
    )


def create_worker(
    settings: DialerSettings,
    *,
    placer: CallPlacer | None = None,
    config: ConfigView | None = None,
    clock: Clock = utcnow,
) -> Litestar:
    """A worker: dial loop, recovery, outbox relay and consumers; /health /ready /metrics.
    Without ``config`` it follows ``control.config`` (accounts, caller IDs, limits, live).

    The three loops run under a :class:`Supervisor`: one that fails unexpectedly is restarted
    with backoff, and ``/ready`` names it (``loop:<name>``) until it runs again."""
    broker = create_broker(settings.kafka)
    declare_publications(
        broker, [CALL_EVENTS, DIAL_COMMANDS, dlq(CALL_EVENTS), dlq(MESSAGE_INBOUND)]
    )
    worker_id = settings.worker.worker_id or f"{socket.gethostname()}-{os.getpid()}"
    # Every replica hears every command: a group of its own (named in the docs by its pattern).
    commands_group = f"{settings.consumer.commands_group_prefix}-{worker_id}"
    commands_pattern = {commands_group: f"{settings.consumer.commands_group_prefix}-<worker id>"}
    state: dict[str, Any] = {}
    # Registered now, so /ready knows every loop; what they run is built in the lifespan.
    supervisor = Supervisor(settings.service_name)
    view: ConfigView
    if config is not None:
        view = config
    else:
        view = follow_config(settings, "worker")
        supervisor.add("config", view.run)
    accounts = Accounts(view)
    supervisor.add("dial", lambda: state["worker"].loop.run())
    supervisor.add("recovery", lambda: state["worker"].run_recovery())
    supervisor.add("outbox-relay", lambda: state["relay"]())

    @contextlib.asynccontextmanager
    async def lifespan(_: Litestar) -> AsyncIterator[None]:
        await asyncio.to_thread(migrate, settings.postgres, settings.database)
        await ensure_topics(settings.kafka, TOPICS)
        pg = settings.postgres
        pool = await create_pool(pg.dsn(settings.database), pg.min_pool, pg.max_pool)
        redis = redis_client(settings)
        state["redis"] = redis
        owned_placer = None
        if placer is None:
            owned_placer = TwilioCallPlacer(
                settings.twilio, str(settings.ingress_public_url), accounts.credentials
            )
        active = placer or owned_placer
        assert active is not None
        store = PostgresDialingStore(pool)
        state["store"] = store
        pacer = RedisPacer(
            redis,
            settings.redis_prefix,
            claim_lease_s=settings.worker.claim_lease_s,
            placed_lease_s=settings.twilio.call_time_limit_s + settings.worker.slot_margin_s,
            throttle_backoff_s=settings.worker.throttle_backoff_s,
            throttle_recover_s=settings.worker.throttle_recover_s,
            tolerance_s=settings.worker.pacing_tolerance_s,
        )
        worker = DialWorker(
            settings, store, pacer, active, accounts=accounts, clock=clock, worker_id=worker_id
        )
        state["worker"] = worker
        state["relay"] = functools.partial(
            run_relay,
            store,
            broker,
            settings.kafka.publish_timeout_s,
            settings.worker.relay_interval_s,
        )
        broker.include_router(
            create_router(
                settings,
                broker,
                store,
                PostgresCampaignStore(pool),  # opt-outs go on the do-not-call list
                pacer,
                active,
                clock,
                worker.loop.wake,
                commands_group,
            )
        )
        await broker.start()
        try:
            async with supervisor.running():
                yield
        finally:
            await broker.stop()
            if owned_placer is not None:
                await owned_placer.close()
            await redis.aclose()
            await pool.close()

    async def store_ready() -> bool:
        return "store" in state and bool(await state["store"].is_ready())

    async def redis_ready() -> bool:
        return "redis" in state and bool(await state["redis"].ping())

    async def broker_ready() -> bool:
        return bool(await broker.ping(timeout=1.0))

    return Litestar(
        logging_config=None,  # logs go through common.logging's structlog handler
        route_handlers=[
            *health_routes(
                {
                    "postgres": store_ready,
                    "redis": redis_ready,
                    "kafka": broker_ready,
                    "config": view.check,
                    **supervisor.checks(),
                }
            ),
            *asyncapi_routes(
                lambda: document(
                    broker,
                    service="dialer",
                    description=DESCRIPTION,
                    group_names=commands_pattern,
                )
            ),
        ],
        lifespan=[lifespan],
        openapi_config=None,  # no HTTP API on the worker's port: /asyncapi.yaml describes it
    )


def api_from_env() -> Litestar:
    settings = get_settings()
    configure_process(settings, "api")
    return settled_after_startup(create_api(settings))


def worker_from_env() -> Litestar:
    settings = get_settings()
    configure_process(settings, "worker")
    return settled_after_startup(create_worker(settings))
