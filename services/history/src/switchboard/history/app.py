"""Composition root: the worker (Kafka → PostgreSQL) with its health/metrics endpoints."""

import asyncio
import contextlib
from collections.abc import AsyncIterator

from litestar import Litestar

from switchboard.common.http import health_routes
from switchboard.common.kafka import create_broker, ensure_topics
from switchboard.common.logging import configure_logging
from switchboard.common.topics import CALL_EVENTS
from switchboard.history.adapters.postgres import PostgresCallStore, create_pool
from switchboard.history.consumers import create_router
from switchboard.history.migrate import migrate
from switchboard.history.settings import HistorySettings, get_settings


def create_worker(settings: HistorySettings) -> Litestar:
    """The worker: consumes events into PostgreSQL; serves /health, /ready, /metrics."""
    broker = create_broker(settings.kafka)
    state: dict[str, PostgresCallStore] = {}

    async def store_ready() -> bool:
        return "store" in state and await state["store"].is_ready()

    async def broker_ready() -> bool:
        return await broker.ping(timeout=1.0)

    @contextlib.asynccontextmanager
    async def lifespan(_: Litestar) -> AsyncIterator[None]:
        await asyncio.to_thread(migrate, settings.postgres, settings.database)
        await ensure_topics(settings.kafka, [CALL_EVENTS])
        pool = await create_pool(
            settings.postgres.dsn(settings.database),
            settings.postgres.min_pool,
            settings.postgres.max_pool,
        )
        store = PostgresCallStore(pool)
        state["store"] = store
        broker.include_router(create_router(store, settings))
        await broker.start()
        try:
            yield
        finally:
            await broker.stop()  # stop consuming, finish in-flight, commit
            await pool.close()

    return Litestar(
        route_handlers=health_routes({"postgres": store_ready, "kafka": broker_ready}),
        lifespan=[lifespan],
    )


def worker_from_env() -> Litestar:
    """Factory for uvicorn: settings from the environment, logging configured."""
    settings = get_settings()
    configure_logging(settings.log, f"{settings.service_name}-worker")
    return create_worker(settings)
