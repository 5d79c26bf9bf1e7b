"""Composition root: the admin API and the worker, each a Litestar app built from settings.

Tests and the benchmark pass fakes for the model, embedder, sender or publisher; everything
not passed is the real adapter.
"""

import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from faststream.kafka import KafkaBroker
from litestar import Litestar
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from redis.asyncio import Redis
from twilio.http.async_http_client import AsyncTwilioHttpClient

from switchboard.ai.adapters.batching import Inserts
from switchboard.ai.adapters.kafka import KafkaOutbound
from switchboard.ai.adapters.memory import ConversationMemory
from switchboard.ai.adapters.mongo import Database, create_client, ensure_indexes, ping
from switchboard.ai.adapters.mongo_businesses import MongoBusinesses
from switchboard.ai.adapters.mongo_knowledge import MongoKnowledge
from switchboard.ai.adapters.mongo_replies import MongoLedger, MongoUsage
from switchboard.ai.adapters.mongo_windows import MongoWindows
from switchboard.ai.adapters.openai_client import OpenAIEmbedder, OpenAIModel, create_openai
from switchboard.ai.adapters.redis_limits import RedisRateLimiter
from switchboard.ai.adapters.redis_published import RedisPublishedLedger
from switchboard.ai.adapters.redis_spend import RedisSpend
from switchboard.ai.adapters.senders import ChannelSender, TwilioSender, WhatsAppSender
from switchboard.ai.adapters.whatsapp_media import WhatsAppMedia
from switchboard.ai.admin import AdminService
from switchboard.ai.api import BusinessController, UsageController
from switchboard.ai.breaker import BreakerState, CircuitBreaker
from switchboard.ai.cache import BindingsWatch, BusinessCache, forget_on_binding
from switchboard.ai.consumers import create_router
from switchboard.ai.handlers import ReplyPipeline, handle_inbound
from switchboard.ai.knowledge import EmbeddingJob
from switchboard.ai.metrics import BREAKER_STATE
from switchboard.ai.repository import Embedder, ModelClient, OutboundPublisher, Sender
from switchboard.ai.retrieval import Retriever
from switchboard.ai.settings import AiSettings, get_settings
from switchboard.common.asyncapi import asyncapi_routes, declare_publications, document
from switchboard.common.auth import Audience, tenant_of
from switchboard.common.auth.service import AUTH_PREFIXES, api_auth
from switchboard.common.cli import configure_process
from switchboard.common.config import ConfigFollower, ConfigView
from switchboard.common.config.startup import service_follower
from switchboard.common.crypto import Cipher
from switchboard.common.edge import edge_rules
from switchboard.common.events import Event
from switchboard.common.http import health_routes
from switchboard.common.kafka import DeadLetters, create_broker, ensure_topics
from switchboard.common.runtime import settled_after_startup
from switchboard.common.supervise import Supervisor
from switchboard.common.topics import dlq

DESCRIPTION = (
    "The AI-reply worker: answers inbound WhatsApp/SMS messages per business with OpenAI, in order "
    "per conversation, and publishes each reply it sent (message.outbound)."
)

CONFIG_PREFIXES = ("channel/", "tenant/", "model/")
"""What the AI processes follow of ``control.config``: who owns each channel, the tenants'
status and plans, the models the platform offers and their prices (no secrets)."""


def create_cipher(settings: AiSettings) -> Cipher:
    return Cipher.from_settings(settings.crypto)


@dataclass(slots=True)
class Overrides:
    """Fakes to use instead of real adapters (tests, benchmark)."""

    model: ModelClient | None = None
    embedder: Embedder | None = None
    sender: Sender | None = None
    publisher: OutboundPublisher | None = None
    config: ConfigView | None = None
    """Instead of following ``control.config`` (channel owners, plans, models)."""
    clock: Callable[[], float] = time.monotonic
    """Monotonic clock of the caches and the breaker."""
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))


@dataclass(slots=True)
class Runtime:
    """Everything the worker runs on, opened and closed together."""

    db: Database
    config: ConfigView
    pipeline: ReplyPipeline
    job: EmbeddingJob
    cache: BusinessCache
    limiter: RedisRateLimiter
    businesses: MongoBusinesses
    ledger: MongoLedger
    knowledge: MongoKnowledge
    bindings: BindingsWatch

    async def handle(self, event: Event) -> str:
        return await handle_inbound(event, self.pipeline)


@contextlib.asynccontextmanager
async def open_runtime(
    settings: AiSettings, *, broker: KafkaBroker | None = None, overrides: Overrides | None = None
) -> AsyncIterator[Runtime]:
    """Connect MongoDB, Redis, the OpenAI and provider clients; follow ``control.config``
    (supervised: restarted with backoff); build the reply pipeline."""
    o = overrides or Overrides()
    cipher = create_cipher(settings)
    config = o.config or follow_config(settings, "ai-worker")
    loops = Supervisor("ai-runtime")
    if o.config is None:
        loops.add("config", config.run)
    mongo = create_client(settings.mongo)
    redis: Redis = Redis.from_url(
        settings.redis.url.get_secret_value(),
        socket_timeout=settings.redis.socket_timeout_s,
        socket_connect_timeout=settings.redis.connect_timeout_s,
    )
    openai_client = create_openai(settings.openai)
    p = settings.providers
    http = httpx.AsyncClient(
        timeout=p.timeout_s,
        limits=httpx.Limits(max_connections=p.max_connections),
    )
    twilio_http = AsyncTwilioHttpClient()
    try:
        db = mongo[settings.mongo.database]
        await ensure_indexes(db)
        businesses = MongoBusinesses(db)
        knowledge = MongoKnowledge(db)
        # One batcher per collection and one insert_many in flight for all of them.
        inserts = Inserts(db)
        ledger = MongoLedger(db, inserts=inserts)
        embedder = o.embedder or OpenAIEmbedder(openai_client, settings.openai.embedding_model)
        c = settings.cache
        cache = BusinessCache(
            businesses,
            cipher,
            ttl_s=c.ttl_s,
            max_entries=c.max_entries,
            token_max_entries=c.token_max_entries,
            unknown_ttl_s=c.unknown_ttl_s,
            unknown_max_entries=c.unknown_max_entries,
            clock=o.clock,
        )
        config.listen(forget_on_binding(cache), prefix="channel/")
        ns = settings.redis_namespace
        limiter = RedisRateLimiter(redis, f"{ns}:rate")
        if o.publisher is None and broker is None:
            raise ValueError("a broker or a publisher is needed")
        publisher = o.publisher or KafkaOutbound(
            broker,  # type: ignore[arg-type]
            settings.kafka.publish_timeout_s,
            settings.consumer.outbound_topic,
        )
        pipeline = ReplyPipeline(
            config=config,
            businesses=cache,
            ledger=RedisPublishedLedger(
                ledger, redis, ttl_s=c.published_ttl_s, prefix=f"{ns}:published"
            ),
            conversations=ConversationMemory(
                db,
                redis,
                keep=c.memory_turns,
                ttl_s=c.memory_ttl_s,
                prefix=f"{ns}:memory",
                inserts=inserts,
            ),
            usage=RedisSpend(MongoUsage(db, inserts=inserts), redis, f"{ns}:spend"),
            limiter=limiter,
            model=o.model
            or OpenAIModel(
                openai_client,
                families=settings.openai.model_families,
                reasoning_headroom=settings.openai.reasoning_headroom_tokens,
            ),
            breaker=CircuitBreaker(
                settings.breaker.failure_threshold,
                settings.breaker.reset_timeout_s,
                clock=o.clock,
                on_change=lambda s: BREAKER_STATE.set(0 if s is BreakerState.CLOSED else 1),
            ),
            sender=o.sender or ChannelSender(WhatsAppSender(http, p), TwilioSender(twilio_http, p)),
            publisher=publisher,
            retriever=Retriever(
                knowledge,
                embedder,
                k=settings.knowledge.top_k,
                min_score=settings.knowledge.min_score,
                ttl_s=c.knowledge_ttl_s,
                max_entries=c.knowledge_max_entries,
                clock=o.clock,
            ),
            default_model=settings.openai.default_model,
            windows=MongoWindows(db, every_s=p.whatsapp_window_record_every_s),
            media=WhatsAppMedia(http, p),
            window_margin=timedelta(seconds=p.whatsapp_window_margin_s),
            media_text_chars=p.media_text_chars,
            source=settings.source,
            now=o.now,
        )
        job = EmbeddingJob(
            knowledge,
            embedder,
            settings.knowledge,
            settings.openai.embedding_model,
            settings.openai.embedding_batch,
        )
        bindings = BindingsWatch(businesses, cache, interval_s=c.bindings_poll_s)
        async with loops.running():
            yield Runtime(
                db, config, pipeline, job, cache, limiter, businesses, ledger, knowledge, bindings
            )
    finally:
        await http.aclose()
        await twilio_http.close()
        await openai_client.close()
        await redis.aclose()
        await mongo.close()


def follow_config(
    settings: AiSettings, process: str, prefixes: tuple[str, ...] = CONFIG_PREFIXES
) -> ConfigFollower:
    """The follower of what the AI service reads of ``control.config`` (no secrets)."""
    return service_follower(settings.kafka, settings.config, process=process, prefixes=prefixes)


def create_worker(settings: AiSettings, overrides: Overrides | None = None) -> Litestar:
    """The consumer of ``message.inbound`` with /health, /ready, /metrics; the embedding job
    runs beside it, supervised (restarted with backoff after a bug, reported by /ready)."""
    create_cipher(settings)  # fail at start, not at the first message, on a bad key ring
    broker = create_broker(settings.kafka)
    consumer = settings.consumer
    declare_publications(broker, [consumer.outbound_topic, dlq(consumer.topic)])
    state: dict[str, Runtime] = {}
    supervisor = Supervisor("ai")

    async def embeddings() -> None:
        await state["rt"].job.run_forever()

    supervisor.add("embeddings", embeddings)

    async def bindings() -> None:
        await state["rt"].bindings.run_forever()

    supervisor.add("bindings", bindings)

    async def mongo_ready() -> bool:
        return "rt" in state and await ping(state["rt"].db)

    async def redis_ready() -> bool:
        return "rt" in state and await state["rt"].limiter.ping()

    async def broker_ready() -> bool:
        return await broker.ping(timeout=1.0)

    async def config_ready() -> bool:
        return "rt" in state and state["rt"].config.ready

    @contextlib.asynccontextmanager
    async def lifespan(_: Litestar) -> AsyncIterator[None]:
        await ensure_topics(
            settings.kafka, [consumer.topic, consumer.outbound_topic, dlq(consumer.topic)]
        )
        async with open_runtime(settings, broker=broker, overrides=overrides) as rt:
            state["rt"] = rt
            dead_letters = DeadLetters(broker, consumer.group_id, topics=[consumer.topic])
            router, subscription = create_router(
                rt.handle, dead_letters, consumer, topic=consumer.topic
            )
            broker.include_router(router)
            await broker.start()
            try:
                async with supervisor.running():
                    yield
            finally:
                # Stop taking messages, let those being handled finish, commit; then stop.
                await subscription.stop(consumer.revoke_timeout_s)
                await broker.stop()

    return Litestar(
        logging_config=None,  # logs go through common.logging's structlog handler
        route_handlers=[
            *health_routes(
                {
                    "mongo": mongo_ready,
                    "redis": redis_ready,
                    "kafka": broker_ready,
                    "config": config_ready,
                    **supervisor.checks(),
                }
            ),
            *asyncapi_routes(lambda: document(broker, service="ai", description=DESCRIPTION)),
        ],
        lifespan=[lifespan],
        openapi_config=None,  # no HTTP API on the worker's port: /asyncapi.yaml describes it
    )


def create_api(settings: AiSettings, config: ConfigView | None = None) -> Litestar:
    """The admin API: businesses, knowledge documents, usage. ``config`` instead of following
    ``control.config`` (tests). One follower for the channels, tenants, models and signing
    keys, run by the token check's lifespan."""
    followed = config or follow_config(settings, "ai-api", (*CONFIG_PREFIXES, *AUTH_PREFIXES))
    auth = api_auth(settings, Audience.AI, followed)
    cipher = create_cipher(settings)
    state: dict[str, Any] = {}

    @contextlib.asynccontextmanager
    async def lifespan(_: Litestar) -> AsyncIterator[None]:
        mongo = create_client(settings.mongo)
        try:
            db = mongo[settings.mongo.database]
            await ensure_indexes(db)
            await MongoBusinesses(db).upgrade_routes()
            state["db"] = db
            state["admin"] = AdminService(
                MongoBusinesses(db),
                MongoKnowledge(db),
                MongoUsage(db),
                cipher,
                settings.openai.default_model,
                settings.knowledge.max_document_chars,
                allow_private_tools=settings.private_tools_allowed,
                config=followed,
            )
            yield
        finally:
            await mongo.close()

    async def mongo_ready() -> bool:
        return "db" in state and await ping(state["db"])

    async def config_ready() -> bool:
        return followed.ready

    return Litestar(
        logging_config=None,  # logs go through common.logging's structlog handler
        route_handlers=[
            BusinessController,
            UsageController,
            *health_routes({"mongo": mongo_ready, "config": config_ready, **auth.checks()}),
        ],
        dependencies={
            "tenant": Provide(tenant_of, sync_to_thread=False),
            "admin": Provide(lambda: state["admin"], sync_to_thread=False),
        },
        lifespan=[auth.lifespan, lifespan],
        on_app_init=[auth.on_app_init, edge_rules(settings.edge)],
        openapi_config=OpenAPIConfig(title="Switchboard AI", version="0.1.0"),
    )


def worker_from_env() -> Litestar:
    settings = get_settings()
    configure_process(settings, "worker")
    return settled_after_startup(create_worker(settings))


def api_from_env() -> Litestar:
    settings = get_settings()
    configure_process(settings, "api")
    return settled_after_startup(create_api(settings))
