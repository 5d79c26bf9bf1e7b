"""Composition root: ``create_app(settings)`` wires the real adapters; tests pass fakes."""

import contextlib
from collections.abc import AsyncIterator
from typing import Any, Final

import httpx
import structlog
from litestar import Litestar, Request, Response
from litestar.datastructures import State
from litestar.middleware.rate_limit import RateLimitConfig
from litestar.openapi import OpenAPIConfig
from litestar.stores.base import Store
from litestar.stores.redis import RedisStore

from switchboard.common.asyncapi import asyncapi_routes
from switchboard.common.auth import OPEN_PATHS as API_OPEN_PATHS
from switchboard.common.auth import open_path_patterns
from switchboard.common.cli import configure_process
from switchboard.common.config import ConfigFollower, ConfigSnapshot, ConfigView
from switchboard.common.config.startup import service_follower
from switchboard.common.edge import client_identifier, edge_rules
from switchboard.common.http import health_routes
from switchboard.common.metrics import labelled
from switchboard.common.middleware import request_context
from switchboard.common.runtime import settled_after_startup
from switchboard.common.supervise import Supervisor
from switchboard.ingress.delivery import Delivery
from switchboard.ingress.directory import PREFIXES, Directory
from switchboard.ingress.errors import WebhookRejected
from switchboard.ingress.kafka_interface import kafka_document
from switchboard.ingress.metrics import WEBHOOKS
from switchboard.ingress.publish import KafkaPublisher, RecordPublisher
from switchboard.ingress.record_limit import RecordLimit
from switchboard.ingress.settings import LEGACY_ENV, IngressSettings, get_settings
from switchboard.ingress.spool import Spool
from switchboard.ingress.voice_client import VoiceClient
from switchboard.ingress.webhooks import ALL as WEBHOOK_ROUTES
from switchboard.ingress.webhooks.common import Wiring
from switchboard.ingress.webhooks.endpoint import document
from switchboard.ingress.webhooks.voice_sync import VOICE_STATE

log = structlog.get_logger(__name__)
# Left out of the rate limit (exact paths): probes, metrics and the API documents.
OPEN_PATHS: Final = (*API_OPEN_PATHS, "/asyncapi.yaml", "/asyncapi.json")


def _rejected(request: Request[Any, Any, Any], exc: WebhookRejected) -> Response[dict[str, Any]]:
    """Every rejection answers the same shape and is counted by route and reason."""
    route = request.scope.get("path_template", request.scope["path"])
    labelled(WEBHOOKS, route, f"rejected_{exc.reason}").inc()
    log.info(
        "webhook rejected",
        route=route,
        reason=exc.reason,
        status=exc.status_code,
        detail=exc.detail,
    )
    return Response(
        {"status_code": exc.status_code, "reason": exc.reason, "detail": exc.detail},
        status_code=exc.status_code,
        headers=exc.headers or {},
    )


def create_app(
    settings: IngressSettings,
    publisher: RecordPublisher | None = None,
    config: ConfigView | None = None,
    voice_transport: httpx.AsyncBaseTransport | None = None,
) -> Litestar:
    """The ingress ASGI app. Without ``publisher`` it publishes to the configured Kafka;
    without ``config`` it follows ``control.config`` (and keeps a snapshot of it beside the
    spool, so it starts and verifies webhooks while Kafka is away); ``voice_transport``
    replaces the network to the AI service's voice API (tests)."""
    kafka = KafkaPublisher(settings.kafka) if publisher is None else None
    records: RecordPublisher = kafka if kafka is not None else publisher  # type: ignore[assignment]
    spool = Spool(settings.spool.directory, settings.spool.max_events)
    delivery = Delivery(
        records,
        spool,
        RecordLimit(settings.kafka.max_record_bytes),
        deadline_s=settings.spool.publish_deadline_s,
        drain_batch=settings.spool.drain_batch,
        drain_retry_s=settings.spool.drain_retry_s,
        max_attempts=settings.spool.max_attempts,
    )
    voice = VoiceClient(settings.voice, voice_transport)
    loops = Supervisor("ingress")
    loops.add("spool-drainer", delivery.drainer.run)
    follower: ConfigFollower | None = None
    snapshot: ConfigSnapshot | None = None
    if config is None:
        follower, snapshot = _follower(settings)
        config = follower
        loops.add("config", follower.run)
        loops.add("config-snapshot", lambda: snapshot.run(follower))
    live = config
    directory = Directory(
        live, ready=lambda: live.ready or (snapshot is not None and snapshot.usable)
    )

    @contextlib.asynccontextmanager
    async def lifespan(_: Litestar) -> AsyncIterator[None]:
        await spool.open()
        log.info("spool open", path=str(spool.path), depth=spool.depth)
        if follower is not None and snapshot is not None:
            snapshot.restore(follower)  # before it reads Kafka: usable even if Kafka is away
        async with contextlib.AsyncExitStack() as stack:
            if kafka is not None:
                await stack.enter_async_context(kafka.running())
            await stack.enter_async_context(loops.running())
            stack.push_async_callback(voice.aclose)
            yield
        await spool.close()

    async def spool_ready() -> bool:
        return spool.path is not None and spool.depth < settings.spool.max_events

    rate_limit = (
        RateLimitConfig(
            rate_limit=("second", settings.http.rate_limit_per_second),
            exclude=open_path_patterns(OPEN_PATHS),
            identifier_for_request=client_identifier(settings.edge.trusted_proxies),
        )
        if settings.http.rate_limit_per_second > 0
        else None
    )
    stores: dict[str, Store] = (
        {"rate_limit": RedisStore.with_client(url=settings.redis.url.get_secret_value())}
        if settings.http.rate_limit_store == "redis"
        else {}
    )
    app = Litestar(
        logging_config=None,  # logs go through common.logging's structlog handler
        route_handlers=[
            *WEBHOOK_ROUTES,
            *asyncapi_routes(kafka_document),
            # A drainer that is down (between restarts) is "degraded", not "not ready": webhooks
            # are still made durable (Kafka, or the spool), and taking the replica out of the
            # Service would turn them away while no other process can drain its spool file.
            # The configuration is needed (no secret, no verification): not ready without it;
            # one restored from the snapshot while Kafka is away is "degraded".
            *health_routes(
                {"spool": spool_ready, "config": directory.check},
                degraded_checks={
                    "kafka": delivery.kafka_ok,
                    "config-live": config.check,
                    **loops.checks(),
                },
            ),
        ],
        state=State(
            {
                "wiring": Wiring(settings=settings, delivery=delivery, directory=directory),
                VOICE_STATE: voice,
            }
        ),
        lifespan=[lifespan],
        middleware=[request_context, *([rate_limit.middleware] if rate_limit else [])],
        on_app_init=[edge_rules(settings.edge)],
        exception_handlers={WebhookRejected: _rejected},
        request_max_body_size=settings.http.max_body_bytes,
        stores=stores,
        openapi_config=OpenAPIConfig(
            title="Switchboard ingress",
            version="0.1.0",
            description="Verified provider webhooks → typed CloudEvents on Kafka.",
        ),
    )
    return document(app)


def _follower(settings: IngressSettings) -> tuple[ConfigFollower, ConfigSnapshot]:
    """The follower of ``account/*`` and ``channel/*``, and its snapshot file."""
    follower = service_follower(
        settings.kafka,
        settings.config,
        process="ingress",
        prefixes=PREFIXES,
        needs_keys="the ingress cannot read a single webhook secret",
        legacy_env=LEGACY_ENV,
    )
    snapshot = ConfigSnapshot(
        settings.spool.directory / f"config-snapshot.{settings.config.topic}.json",
        settings.config,
        usable_after_s=settings.spool.config_snapshot_wait_s,
    )
    return follower, snapshot


def app_from_env() -> Litestar:
    """Factory for uvicorn: settings from the environment, logging and tracing configured."""
    settings = get_settings()
    configure_process(settings)
    return settled_after_startup(create_app(settings))
