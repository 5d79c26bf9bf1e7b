"""AI service settings (``SWITCHBOARD_`` env vars; nested with ``__``)."""

from functools import lru_cache
from typing import Literal

from pydantic import BaseModel, Field, SecretStr

from switchboard.common.auth import AuthSettings
from switchboard.common.config import ConfigSettings
from switchboard.common.crypto import KeyRingSettings
from switchboard.common.kafka import RetryPolicy
from switchboard.common.settings import CommonSettings
from switchboard.common.topics import MESSAGE_INBOUND, MESSAGE_OUTBOUND, Groups


class AiHttpSettings(BaseModel):
    """Where the AI processes listen."""

    host: str = "127.0.0.1"
    api_port: int = 8006
    """The admin API (``switchboard-ai api``)."""
    worker_port: int = 8003
    """Health/readiness/metrics of the consumer (``switchboard-ai worker``)."""
    voice_port: int = 8008
    """The internal voice API (``switchboard-ai voice``), for the ingress only."""


class OpenAISettings(BaseModel):
    """The OpenAI-compatible server answers and embeddings come from."""

    base_url: str = "https://api.openai.com/v1"
    api_key: SecretStr = SecretStr("")
    timeout_s: float = 20.0
    """Per request, including the SDK's own retries of one attempt."""
    max_retries: int = 2
    """The SDK's bounded retries (429, 5xx, connection errors) before the call counts as failed."""
    default_model: str = "gpt-4o-mini"
    reasoning_headroom_tokens: int = Field(default=4000, ge=0)
    """Added to a business's ``max_tokens`` for models that reason before answering: their
    ``max_completion_tokens`` counts the hidden reasoning tokens too (a cap, not a cost)."""
    model_families: dict[str, Literal["chat", "o-series", "gpt-5", "gpt-5.1"]] = Field(
        default_factory=dict
    )
    """Model-name prefix → family, for names OpenAI's do not give away (e.g. Azure deployment
    names); unlisted names go by OpenAI's naming, unknown ones are chat models."""
    embedding_model: str = "text-embedding-3-small"
    embedding_batch: int = 64
    """Chunks embedded per request."""


class BreakerSettings(BaseModel):
    """Circuit breaker around the chat model."""

    failure_threshold: int = 5
    """Consecutive failed calls that open the breaker."""
    reset_timeout_s: float = 30.0
    """How long it stays open before one trial call is let through."""


class ProviderSettings(BaseModel):
    """Where replies are sent."""

    whatsapp_graph_base: str = "https://graph.facebook.com"
    whatsapp_version: str = "v21.0"
    twilio_base_url: str = "https://api.twilio.com"
    timeout_s: float = 10.0
    max_connections: int = 100
    media_max_bytes: int = Field(default=5_000_000, ge=1)
    """Largest WhatsApp media file fetched for a business with ``fetch_media`` (Meta's image
    limit is 5 MB); larger ones are only described."""
    media_text_chars: int = Field(default=4000, ge=0)
    """Characters of a fetched text document put in the prompt."""
    whatsapp_window_margin_s: float = Field(default=60.0, ge=0)
    """WhatsApp's 24-hour window counts as closed this long before it ends (the send takes
    time and Meta's clock decides): a template goes out instead of free text."""
    whatsapp_window_record_every_s: float = Field(default=60.0, ge=0)
    """A conversation's last-message time is written at most this often per process (a write
    per message otherwise); the stored time lags by less, which only shortens the window."""


class CacheSettings(BaseModel):
    """Business lookups by channel id (TTL + LRU)."""

    ttl_s: float = 300.0
    max_entries: int = 1000
    unknown_ttl_s: float = Field(default=60.0, ge=0)
    """How long "no business on this channel" is remembered (0: not at all); dropped sooner
    when a channel is bound (see ``bindings_poll_s``)."""
    unknown_max_entries: int = Field(default=10_000, ge=0)
    """Channels remembered as having no business (LRU)."""
    bindings_poll_s: float = Field(default=2.0, gt=0)
    """How often the worker reads the marker the admin API moves when it binds channels; a
    channel bound in the API is answered within about this long."""
    token_max_entries: int = 1000
    """Decrypted provider tokens, kept apart from the business cache."""
    memory_turns: int = 200
    """Turns per conversation mirrored in Redis (the most a business can ask to remember)."""
    memory_ttl_s: int = 30 * 24 * 3600
    """A conversation quiet this long leaves Redis (MongoDB keeps it; it is reloaded on use)."""
    published_ttl_s: int = 24 * 3600
    """How long a finished reply's ``published`` flag stays in Redis; a message delivered again
    later repeats its ``message.outbound`` (same event id), never its reply or its count."""
    knowledge_ttl_s: float = 300.0
    knowledge_max_entries: int = 200
    """Businesses whose chunk vectors are held in memory."""


class Price(BaseModel):
    """USD per 1,000 tokens (the operator's prices come from the control plane: ``model/*``)."""

    input_per_1k: float = 0.0
    output_per_1k: float = 0.0


class KnowledgeSettings(BaseModel):
    """Chunking, retrieval and the embedding job."""

    chunk_chars: int = 800
    chunk_overlap: int = 100
    top_k: int = 3
    min_score: float = 0.0
    """Chunks scoring below this cosine similarity are left out of the prompt."""
    poll_interval_s: float = 2.0
    """How often the worker's embedding job looks for changed documents."""
    max_document_chars: int = 200_000


class ConsumerSettings(BaseModel):
    """How the worker reads ``message.inbound``."""

    topic: str = MESSAGE_INBOUND
    """Topic consumed (its dead letters go to ``<topic>.dlq``)."""
    outbound_topic: str = MESSAGE_OUTBOUND
    """Topic the ``MessageSent`` events go to."""
    group_id: str = Groups.AI
    max_records: int = 500
    """Records read per poll (they are queued per conversation, not handled as a batch)."""
    batch_timeout_ms: int = 100
    concurrency: int = 32
    """Messages handled at once, each of a different conversation (one conversation's
    messages are handled one at a time, in order)."""
    max_buffered: int = Field(default=2000, ge=1)
    """Messages read and not yet handled; above it fetching pauses (and resumes at half)."""
    max_uncommitted: int = Field(default=100_000, ge=1)
    """Messages of one partition read after the first one not yet handled (a conversation
    waiting out failures); above it that partition pauses. Bounds what a crash re-delivers."""
    commit_interval_s: float = Field(default=1.0, gt=0)
    """How often the handled prefix of each partition is committed (also on a rebalance and at
    shutdown)."""
    revoke_timeout_s: float = Field(default=10.0, ge=0)
    """On a rebalance or shutdown, how long messages being handled may take to finish before
    they are cancelled (their conversation's next owner handles them again)."""
    retry: RetryPolicy = Field(default_factory=RetryPolicy)
    """Tries of a message before its conversation waits for a pause (an outage, or the
    provider refusing that conversation for now); never dead-lettered for it."""
    retry_pause_s: float = 1.0
    """Pause before a conversation whose message failed past the retries tries it again;
    doubles while it keeps failing. The other conversations go on meanwhile."""
    max_retry_pause_s: float = 30.0
    """Longest such pause."""


class VoiceSettings(BaseModel):
    """The internal voice API: live-call answers for the ingress."""

    internal_secrets: list[SecretStr] = Field(default_factory=list)
    """Bearer tokens the ingress presents (``SWITCHBOARD_VOICE__INTERNAL_SECRET`` there); the
    first is current, every one is accepted, so it rotates without downtime. Empty: the voice
    API refuses to start."""
    default_deadline_s: float = Field(default=5.0, gt=0)
    """When a request carries no deadline header."""
    tool_max_response_bytes: int = Field(default=16_384, ge=1024)
    """Largest answer read from a tenant's HTTP tool."""
    tool_max_connections: int = 100
    allow_private_tools: bool | None = None
    """Tool endpoints on private, loopback or link-local addresses, and plain http; None:
    only in the ``local`` environment."""
    knowledge_chars: int = Field(default=600, ge=50)
    """Longest knowledge answer spoken back by ``search_knowledge``."""
    cache_ttl_s: float = 30.0
    """Business lookups by tenant and channel."""
    cache_max_entries: int = 10_000
    query_cache_entries: int = 2048
    """Embeddings of recent questions kept in memory (callers ask the same few)."""


class AiSettings(CommonSettings):
    """Everything the AI service reads."""

    service_name: str = "ai"
    http: AiHttpSettings = Field(default_factory=AiHttpSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    crypto: KeyRingSettings = Field(default_factory=KeyRingSettings)
    """AES-256-GCM keys for provider tokens at rest."""
    openai: OpenAISettings = Field(default_factory=OpenAISettings)
    breaker: BreakerSettings = Field(default_factory=BreakerSettings)
    providers: ProviderSettings = Field(default_factory=ProviderSettings)
    cache: CacheSettings = Field(default_factory=CacheSettings)
    knowledge: KnowledgeSettings = Field(default_factory=KnowledgeSettings)
    consumer: ConsumerSettings = Field(default_factory=ConsumerSettings)
    voice: VoiceSettings = Field(default_factory=VoiceSettings)
    config: ConfigSettings = Field(default_factory=ConfigSettings)
    """The control plane's configuration (``control.config``): who owns each channel, the
    tenants' plans, the models offered and their prices."""
    redis_prefix: str = ""
    """Namespace of this service's Redis keys; empty: ``switchboard:ai:<mongo database>``."""
    source: str = "/switchboard/ai"
    """CloudEvents ``source`` of the events this service publishes."""

    @property
    def redis_namespace(self) -> str:
        return self.redis_prefix or f"switchboard:ai:{self.mongo.database}"

    @property
    def private_tools_allowed(self) -> bool:
        allowed = self.voice.allow_private_tools
        return self.environment == "local" if allowed is None else allowed


@lru_cache(maxsize=1)
def get_settings() -> AiSettings:
    """Settings from the environment, read once per process."""
    return AiSettings()
