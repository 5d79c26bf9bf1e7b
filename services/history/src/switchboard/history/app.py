"""Composition root: the worker (Kafka → PostgreSQL, partition upkeep, reconciler) and the
query API. Each factory builds its own clients; tests pass fakes or a clock.

The worker's background loops (partition upkeep, the reconciler) run under
``common.supervise.Supervisor``: a round that fails with one of our errors (the database or a
provider away) is logged and the loop waits for its next round; anything else (a bug) ends the
loop, which is restarted with backoff, counted, and reported by ``/ready`` meanwhile."""

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import structlog
from litestar import Litestar
from litestar.di import NamedDependency, Provide
from litestar.openapi import OpenAPIConfig

from switchboard.common.asyncapi import asyncapi_routes, declare_publications, document
from switchboard.common.auth import Audience, tenant_of
from switchboard.common.auth.service import AUTH_PREFIXES, api_auth
from switchboard.common.cli import configure_process
from switchboard.common.config import ConfigFollower, ConfigView, InMemoryConfig
from switchboard.common.config.startup import service_follower
from switchboard.common.edge import edge_rules
from switchboard.common.errors import SwitchboardError
from switchboard.common.events import Event, encode
from switchboard.common.http import health_routes
from switchboard.common.kafka import DeadLetters, create_broker, ensure_topics, publish_record
from switchboard.common.runtime import settled_after_startup
from switchboard.common.supervise import Supervisor
from switchboard.common.topics import CALL_EVENTS, dlq
from switchboard.history.adapters.partitions import Clock, PartitionManager, utcnow
from switchboard.history.adapters.pool import create_pool
from switchboard.history.adapters.postgres import PostgresStore
from switchboard.history.adapters.providers import ProviderClient
from switchboard.history.adapters.queries import READ_SERVER_SETTINGS, PostgresHistoryReader
from switchboard.history.adapters.recordings import PostgresRecordings
from switchboard.history.api import ROUTES, PageLimits, bad_query, call_filters, store_unavailable
from switchboard.history.consumers import TOPICS, batch_processor, create_router
from switchboard.history.credentials import PREFIXES, ProviderCredentials
from switchboard.history.errors import BadQueryError, StoreUnavailableError
from switchboard.history.migrate import migrate
from switchboard.history.reconciler import Reconciler
from switchboard.history.recordings_api import delete_recording
from switchboard.history.repository import (
    HistoryReader,
    RecordingAccess,
    TenantHistory,
)
from switchboard.history.settings import HistorySettings, get_settings

log = structlog.get_logger(__name__)
DESCRIPTION = (
    "The call-history worker: stores every call and message event in partitioned PostgreSQL "
    "(duplicates dropped by event id) and publishes the endings and reports it reconciles from "
    "the providers for calls whose final callback never came."
)


async def _every(interval_s: float, what: str, fn: Callable[[], Awaitable[object]]) -> None:
    """Run ``fn`` now and then every ``interval_s``. A round failing with one of our errors (a
    store or provider away) is logged and the next round comes as usual; any other exception
    ends the loop (its supervisor restarts it with backoff and ``/ready`` shows it down)."""
    while True:
        try:
            await fn()
        except SwitchboardError:
            log.exception("background round failed; next round as usual", task=what)
        await asyncio.sleep(interval_s)


LEGACY_ENV = (
    "SWITCHBOARD_RECONCILE__TWILIO_ACCOUNTS",
    "SWITCHBOARD_RECONCILE__VAPI_API_KEY",
    "SWITCHBOARD_RECONCILE__ELEVENLABS_WORKSPACES",
)


def follow_config(
    settings: HistorySettings, role: str, prefixes: tuple[str, ...] = PREFIXES
) -> ConfigFollower:
    """A follower of history's slice of ``control.config`` (``prefixes``: provider accounts)."""
    return service_follower(
        settings.kafka,
        settings.config,
        process=f"history-{role}",
        prefixes=prefixes,
        needs_keys="history cannot read a single provider credential",
        legacy_env=LEGACY_ENV,
        legacy_what="provider credentials",
    )


def create_worker(
    settings: HistorySettings,
    *,
    clock: Clock = utcnow,
    provider_transport: httpx.AsyncBaseTransport | None = None,
    config: ConfigView | None = None,
) -> Litestar:
    """The worker: consumes events into PostgreSQL, keeps partitions, reconciles open calls
    (credentials from ``config``, else from following ``control.config``); serves /health,
    /ready (PostgreSQL and Kafka), /metrics."""
    broker = create_broker(settings.kafka)
    declare_publications(broker, [CALL_EVENTS, *(dlq(t) for t in TOPICS)])
    state: dict[str, PostgresStore] = {}
    rounds: dict[str, Callable[[], Awaitable[object]]] = {}
    supervisor = Supervisor("history")
    view: ConfigView = InMemoryConfig()  # no reconciler: no provider credentials needed
    if config is not None:
        view = config
    elif settings.reconcile.enabled:
        view = follow_config(settings, "worker")
        supervisor.add("config", view.run)
    credentials = ProviderCredentials(view)

    def loop(name: str, interval_s: float) -> Callable[[], Awaitable[None]]:
        async def run() -> None:  # the round's object is made in the lifespan, below
            await _every(interval_s, name, rounds[name])

        return run

    supervisor.add("partitions", loop("partitions", settings.retention.interval_s))
    if settings.reconcile.enabled:
        supervisor.add("reconcile", loop("reconcile", settings.reconcile.interval_s))

    async def store_ready() -> bool:
        return "store" in state and await state["store"].is_ready()

    async def broker_ready() -> bool:
        return await broker.ping(timeout=1.0)

    async def publish(event: Event, key: str) -> None:
        timeout = settings.kafka.publish_timeout_s
        await publish_record(broker, CALL_EVENTS, encode(event, key), timeout_s=timeout)

    @contextlib.asynccontextmanager
    async def lifespan(_: Litestar) -> AsyncIterator[None]:
        await asyncio.to_thread(migrate, settings.postgres, settings.database)
        await ensure_topics(settings.kafka, [*TOPICS, *(dlq(t) for t in TOPICS)])
        pg = settings.postgres
        pool = await create_pool(pg.dsn(settings.database), pg.min_pool, pg.max_pool)
        # Today's and the coming days' partitions are made by the first maintenance round,
        # in the background (behind a lock it retries); a batch creates its own day if needed.
        partitions = PartitionManager(pool, settings.retention, clock)
        store = PostgresStore(pool, partitions)
        state["store"] = store
        dead = DeadLetters(broker, settings.consumer.group_id, topics=TOPICS)
        broker.include_router(create_router(batch_processor(settings, dead), store, settings))
        http = httpx.AsyncClient(transport=provider_transport)
        rounds["partitions"] = partitions.maintain
        rounds["reconcile"] = Reconciler(
            store,
            ProviderClient(settings.reconcile, http, credentials),
            publish,
            settings.reconcile,
            clock,
            credentials,
        ).run_once
        await broker.start()
        try:
            async with supervisor.running():
                yield
        finally:
            await broker.stop()  # stop consuming, finish in-flight, commit
            await http.aclose()
            await pool.close()

    return Litestar(
        logging_config=None,  # logs go through common.logging's structlog handler
        route_handlers=[
            *health_routes(
                {
                    "postgres": store_ready,
                    "kafka": broker_ready,
                    "config": view.check,
                    **supervisor.checks(),
                }
            ),
            *asyncapi_routes(lambda: document(broker, service="history", description=DESCRIPTION)),
        ],
        openapi_config=None,  # no HTTP API on the worker's port: /asyncapi.yaml describes it
        lifespan=[lifespan],
    )


def create_api(
    settings: HistorySettings,
    reader: HistoryReader | None = None,
    recordings: RecordingAccess | None = None,
    provider_transport: httpx.AsyncBaseTransport | None = None,
    config: ConfigView | None = None,
) -> Litestar:
    """The query API; without ``reader`` it reads the configured PostgreSQL (and, without
    ``recordings``, its recordings); recordings are deleted at the providers through
    ``provider_transport`` (tests) or the network, with the credentials of ``config``, else
    of the followed ``control.config``."""
    followed = config if config is not None else _api_config(settings)
    # One follower for the provider accounts and the signing keys, run by the token check.
    auth = api_auth(settings, Audience.HISTORY, followed)
    view: ConfigView = followed if followed is not None else InMemoryConfig()
    limits = PageLimits(settings.api.default_limit, settings.api.max_limit)
    state: dict[str, HistoryReader] = {} if reader is None else {"reader": reader}
    recording_state: dict[str, RecordingAccess] = (
        {} if recordings is None else {"recordings": recordings}
    )
    provider_http = httpx.AsyncClient(transport=provider_transport)
    deleter = ProviderClient(settings.reconcile, provider_http, ProviderCredentials(view))

    @contextlib.asynccontextmanager
    async def lifespan(_: Litestar) -> AsyncIterator[None]:
        if reader is not None:
            try:
                yield
            finally:
                await provider_http.aclose()
            return
        pg = settings.postgres
        pool = await create_pool(
            pg.dsn(settings.database), pg.min_pool, pg.max_pool, READ_SERVER_SETTINGS
        )
        state["reader"] = PostgresHistoryReader(pool, settings.api)
        recording_state.setdefault("recordings", PostgresRecordings(pool))
        try:
            yield
        finally:
            await pool.close()
            await provider_http.aclose()

    async def reader_ready() -> bool:
        return "reader" in state and await state["reader"].is_ready()

    def history_for(tenant: NamedDependency[str]) -> TenantHistory:
        # The one place a request's data scope is chosen: the token's tenant, nothing else.
        return state["reader"].for_tenant(tenant)

    return Litestar(
        logging_config=None,  # logs go through common.logging's structlog handler
        route_handlers=[
            *ROUTES,
            delete_recording,
            # The configuration only serves recording deletions: degraded, not unready, without it.
            *health_routes(
                {"postgres": reader_ready, **auth.checks()},
                degraded_checks={"config": view.check, **auth.config_checks()},
            ),
        ],
        dependencies={
            "tenant": Provide(tenant_of, sync_to_thread=False),
            "history": Provide(history_for, sync_to_thread=False),
            "filters": Provide(call_filters, sync_to_thread=False),
            "page_limits": Provide(lambda: limits, sync_to_thread=False),
            "recordings": Provide(lambda: recording_state["recordings"], sync_to_thread=False),
            "recording_deleter": Provide(lambda: deleter, sync_to_thread=False),
        },
        exception_handlers={BadQueryError: bad_query, StoreUnavailableError: store_unavailable},
        on_app_init=[auth.on_app_init, edge_rules(settings.edge)],
        lifespan=[auth.lifespan, lifespan],
        openapi_config=OpenAPIConfig(title="Switchboard history", version="0.1.0"),
    )


def _api_config(settings: HistorySettings) -> ConfigFollower | None:
    """The API process's one follower of ``control.config``: provider accounts (recording
    deletions) with the distribution ring, and the signing keys unless they are static (then,
    without the ring, nothing is followed)."""
    if settings.config.keys:
        return follow_config(settings, "api", (*PREFIXES, *AUTH_PREFIXES))
    # Reading history needs no provider secret: only recording deletions are refused.
    log.warning("SWITCHBOARD_CONFIG__KEYS unset: recordings cannot be deleted at the providers")
    if settings.auth.public_keys:
        return None
    return service_follower(
        settings.kafka, settings.config, process="history-api", prefixes=AUTH_PREFIXES
    )


def worker_from_env() -> Litestar:
    """Factory for uvicorn: settings from the environment, logging and tracing configured."""
    settings = get_settings()
    configure_process(settings, "worker")
    return settled_after_startup(create_worker(settings))


def api_from_env() -> Litestar:
    """Factory for uvicorn: settings from the environment, logging and tracing configured."""
    settings = get_settings()
    configure_process(settings, "api")
    return settled_after_startup(create_api(settings))
