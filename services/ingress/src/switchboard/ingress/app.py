"""Composition root: ``create_app(settings)`` wires the real adapters; tests pass fakes."""

import contextlib
from collections.abc import AsyncIterator

from litestar import Litestar
from litestar.config.cors import CORSConfig
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig

from switchboard.common.http import health_routes
from switchboard.common.logging import configure_logging
from switchboard.ingress.publish import EventPublisher, KafkaPublisher
from switchboard.ingress.settings import IngressSettings, get_settings
from switchboard.ingress.webhooks import TwilioWebhooks


def create_app(settings: IngressSettings, publisher: EventPublisher | None = None) -> Litestar:
    """The ingress ASGI app; without ``publisher`` it publishes to the configured Kafka."""
    kafka = KafkaPublisher(settings.kafka) if publisher is None else None
    active: EventPublisher = kafka if kafka is not None else publisher  # type: ignore[assignment]

    @contextlib.asynccontextmanager
    async def kafka_lifespan(_: Litestar) -> AsyncIterator[None]:
        if kafka is None:
            yield
            return
        async with kafka.running():
            yield

    return Litestar(
        route_handlers=[TwilioWebhooks, *health_routes({"kafka": active.is_ready})],
        dependencies={
            "settings": Provide(lambda: settings, use_cache=True, sync_to_thread=False),
            "publisher": Provide(lambda: active, use_cache=True, sync_to_thread=False),
        },
        lifespan=[kafka_lifespan],
        cors_config=CORSConfig(allow_origins=[]),
        openapi_config=OpenAPIConfig(title="Switchboard ingress", version="0.1.0"),
    )


def app_from_env() -> Litestar:
    """Factory for uvicorn: settings from the environment, logging configured."""
    settings = get_settings()
    configure_logging(settings.log, settings.service_name)
    return create_app(settings)
