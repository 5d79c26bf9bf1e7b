"""Composition root of the internal voice API (``switchboard-ai voice``): MongoDB (businesses,
knowledge), Redis (conversation memory), the embedder, the tenants' HTTP tools, and the
control plane's configuration followed under a Supervisor (who owns each voice channel).

Its own process and port, so it scales with calls (not with the Kafka lag the worker scales
on) and so the NetworkPolicy can open it to the ingress alone.
"""

import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpcore
from litestar import Litestar, Router
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from redis.asyncio import Redis

from switchboard.ai.adapters.http_tools import HttpTools
from switchboard.ai.adapters.memory import ConversationMemory
from switchboard.ai.adapters.mongo import create_client, ensure_indexes, ping
from switchboard.ai.adapters.mongo_businesses import MongoBusinesses
from switchboard.ai.adapters.mongo_knowledge import MongoKnowledge
from switchboard.ai.adapters.openai_client import OpenAIEmbedder, create_openai
from switchboard.ai.app import create_cipher, follow_config
from switchboard.ai.repository import Embedder
from switchboard.ai.retrieval import Retriever
from switchboard.ai.settings import AiSettings, get_settings
from switchboard.ai.voice import QueryEmbeddings, VoiceService
from switchboard.ai.voice_api import VoiceController, internal_guard
from switchboard.ai.voice_lookup import ConfigView, VoiceBusinesses
from switchboard.common.cli import configure_process
from switchboard.common.http import health_routes
from switchboard.common.runtime import settled_after_startup
from switchboard.common.supervise import Supervisor


@dataclass(slots=True)
class VoiceOverrides:
    """Fakes for tests and the benchmark; everything not given is the real adapter."""

    embedder: Embedder | None = None
    config: ConfigView | None = None
    """Instead of following ``control.config`` (then always ready)."""
    tool_backend: httpcore.AsyncNetworkBackend | None = None
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    clock: Callable[[], float] = time.monotonic


def create_voice_api(settings: AiSettings, overrides: VoiceOverrides | None = None) -> Litestar:
    """The internal voice API; refuses to start without an internal secret."""
    o = overrides or VoiceOverrides()
    v = settings.voice
    if not v.internal_secrets:
        raise ValueError("SWITCHBOARD_VOICE__INTERNAL_SECRETS is empty: the voice API is closed")
    cipher = create_cipher(settings)
    follower = follow_config(settings, "ai-voice") if o.config is None else None
    loops = Supervisor("ai-voice")
    if follower is not None:
        loops.add("config", follower.run)
    state: dict[str, Any] = {}

    @contextlib.asynccontextmanager
    async def lifespan(_: Litestar) -> AsyncIterator[None]:
        mongo = create_client(settings.mongo)
        redis: Redis = Redis.from_url(
            settings.redis.url.get_secret_value(),
            socket_timeout=settings.redis.socket_timeout_s,
            socket_connect_timeout=settings.redis.connect_timeout_s,
        )
        openai_client = create_openai(settings.openai)
        tools = HttpTools(
            cipher,
            allow_private=settings.private_tools_allowed,
            max_response_bytes=v.tool_max_response_bytes,
            max_connections=v.tool_max_connections,
            backend=o.tool_backend,
        )
        try:
            db = mongo[settings.mongo.database]
            await ensure_indexes(db)
            embedder = o.embedder or OpenAIEmbedder(openai_client, settings.openai.embedding_model)
            c = settings.cache
            state["db"] = db
            state["voice"] = VoiceService(
                VoiceBusinesses(
                    o.config or follower,  # type: ignore[arg-type]
                    MongoBusinesses(db),
                    ttl_s=v.cache_ttl_s,
                    max_entries=v.cache_max_entries,
                    clock=o.clock,
                ),
                Retriever(
                    MongoKnowledge(db),
                    QueryEmbeddings(embedder, v.query_cache_entries),
                    k=settings.knowledge.top_k,
                    min_score=settings.knowledge.min_score,
                    ttl_s=c.knowledge_ttl_s,
                    max_entries=c.knowledge_max_entries,
                    clock=o.clock,
                ),
                ConversationMemory(
                    db,
                    redis,
                    keep=c.memory_turns,
                    ttl_s=c.memory_ttl_s,
                    prefix=f"{settings.redis_namespace}:memory",
                ),
                tools,
                knowledge_chars=v.knowledge_chars,
                now=o.now,
            )
            async with loops.running():
                yield
        finally:
            await tools.aclose()
            await openai_client.close()
            await redis.aclose()
            await mongo.close()

    async def mongo_ready() -> bool:
        return "db" in state and await ping(state["db"])

    async def config_ready() -> bool:
        return follower is None or follower.ready

    return Litestar(
        logging_config=None,  # logs go through common.logging's structlog handler
        route_handlers=[
            Router(
                "/", route_handlers=[VoiceController], guards=[internal_guard(v.internal_secrets)]
            ),
            *health_routes(
                {"mongo": mongo_ready, "config": config_ready}, degraded_checks=loops.checks()
            ),
        ],
        dependencies={
            "voice": Provide(lambda: state["voice"], sync_to_thread=False),
            "default_deadline_s": Provide(lambda: v.default_deadline_s, sync_to_thread=False),
        },
        lifespan=[lifespan],
        openapi_config=OpenAPIConfig(title="Switchboard AI voice (internal)", version="0.1.0"),
    )


def voice_from_env() -> Litestar:
    settings = get_settings()
    configure_process(settings, "voice")
    return settled_after_startup(create_voice_api(settings))
