"""Composition root: ``create_app(settings)`` wires the offsets source, the poll loop under a
supervisor, the collector and the health routes."""

import contextlib
from collections.abc import AsyncIterator

from litestar import Litestar
from prometheus_client import REGISTRY, CollectorRegistry

from switchboard.common.cli import configure_process
from switchboard.common.http import health_routes
from switchboard.common.supervise import Supervisor
from switchboard.lagexporter.collector import LagCollector, Measurement
from switchboard.lagexporter.offsets import KafkaOffsets, OffsetSource
from switchboard.lagexporter.poller import Poller
from switchboard.lagexporter.settings import LagExporterSettings, get_settings


def create_app(
    settings: LagExporterSettings,
    *,
    source: OffsetSource | None = None,
    registry: CollectorRegistry | None = None,
) -> Litestar:
    """The exporter's ASGI app; tests pass a fake ``source`` and a registry of their own."""
    registry = registry if registry is not None else CollectorRegistry()
    kafka = KafkaOffsets(settings.kafka)
    measurement = Measurement(settings.lag.stale_after_s)
    registry.register(LagCollector(measurement))
    poller = Poller(
        source or kafka, settings.lag.groups, measurement, settings.lag.poll_interval_s, registry
    )
    supervisor = Supervisor(settings.service_name)
    supervisor.add("poll", poller.run)

    async def measured() -> bool:
        return measurement.fresh()

    @contextlib.asynccontextmanager
    async def lifespan(_: Litestar) -> AsyncIterator[None]:
        try:
            async with supervisor.running():
                yield
        finally:
            await kafka.close()

    return Litestar(
        logging_config=None,
        route_handlers=health_routes({"kafka": measured, **supervisor.checks()}, registry=registry),
        lifespan=[lifespan],
    )


def app_from_env() -> Litestar:
    """Factory for uvicorn: settings from the environment, logging configured. The default
    registry, so the supervisor's loop metrics are exported beside the lag."""
    settings = get_settings()
    configure_process(settings)
    return create_app(settings, registry=REGISTRY)
