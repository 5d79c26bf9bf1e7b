"""Settings shared by every service: env vars with the ``SWITCHBOARD_`` prefix.

Nested sections use ``__``: ``SWITCHBOARD_KAFKA__BOOTSTRAP_SERVERS=127.0.0.1:19092``.
Each service subclasses :class:`CommonSettings` and adds its own section.
"""

import re
from ipaddress import IPv4Network, IPv6Network
from typing import Final, Literal, Self

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "SWITCHBOARD_"
Network = IPv4Network | IPv6Network
_ORIGIN: Final = re.compile(r"^https?://([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(:[0-9]{1,5})?$")


class KafkaSettings(BaseModel):
    """Kafka connection and producer behaviour."""

    bootstrap_servers: str = "127.0.0.1:19092"
    """Comma-separated host:port list; name several brokers of a cluster, so a client can
    start while any one of them is down (it learns the rest from the metadata)."""
    client_id: str = "switchboard"
    publish_timeout_s: float = 5.0
    """How long a publish may wait for the broker's ack before it counts as failed."""
    request_timeout_ms: int = 10_000
    partitions: int = 6
    """Partitions for topics created by ``ensure_topics`` (the KEDA replica ceiling)."""
    max_record_bytes: int = Field(default=1_000_000, ge=4096)
    """Largest record a service publishes (key, value, headers and batch framing, as the
    producer counts it); the producers' ``max_request_size``. It must not exceed the broker's
    ``message.max.bytes`` (default 1,048,588) nor any topic's ``max.message.bytes``: the
    default leaves room under Kafka's defaults. The ingress trims larger events to fit
    (see the ingress README) or refuses them with 413."""
    replication_factor: int = Field(default=-1, ge=-1)
    """Replicas of each topic ``ensure_topics`` creates; -1: the brokers'
    ``default.replication.factor`` (1 on the local single broker, 3 on a cluster). Set 3 in
    production, so a topic is never created with fewer replicas than the cluster promises."""
    min_insync_replicas: int = Field(default=-1, ge=-1)
    """``min.insync.replicas`` of topics ``ensure_topics`` creates: replicas that must have a
    record before an acks=all publish is acknowledged. -1: the brokers' setting (1 locally, 2 on a
    cluster). With RF 3 and 2, one broker may be lost without losing an acknowledged record; with
    two lost, publishes fail and the ingress spools."""

    @property
    def brokers(self) -> list[str]:
        """``bootstrap_servers`` as a list: FastStream takes a string for one ``host:port``."""
        return self.bootstrap_servers.split(",")

    @field_validator("bootstrap_servers")
    @classmethod
    def _broker_list(cls, value: str) -> str:
        # aiokafka splits on "," only: "a:9092, b:9092" would look up the host " b".
        brokers = [b.strip() for b in value.split(",") if b.strip()]
        if not brokers:
            raise ValueError("name at least one broker (host:port)")
        return ",".join(brokers)

    @model_validator(mode="after")
    def _replication_is_consistent(self) -> Self:
        if self.replication_factor == 0 or self.min_insync_replicas == 0:
            raise ValueError("replication_factor and min_insync_replicas are -1 or at least 1")
        if 0 < self.replication_factor < self.min_insync_replicas:
            raise ValueError("min_insync_replicas cannot exceed replication_factor")
        return self


class PostgresSettings(BaseModel):
    """PostgreSQL server; each service names its own database."""

    host: str = "127.0.0.1"
    port: int = 15432
    user: str = "postgres"
    password: SecretStr = SecretStr("")
    min_pool: int = 1
    max_pool: int = 10

    def dsn(self, database: str) -> str:
        """A libpq URL for ``database`` (password included, so never log it)."""
        auth = self.user
        if self.password.get_secret_value():
            auth += f":{self.password.get_secret_value()}"
        return f"postgresql://{auth}@{self.host}:{self.port}/{database}"


class MongoSettings(BaseModel):
    """MongoDB-wire server (FerretDB locally, MongoDB 7 in compose/k8s)."""

    url: SecretStr = SecretStr("mongodb://127.0.0.1:27018/")
    database: str = "switchboard"
    server_selection_timeout_s: float = 5.0
    """How long an operation waits for a reachable server before it fails (retryably)."""
    socket_timeout_s: float = 10.0
    """A server that stops answering mid-operation (frozen, partitioned) fails the operation
    after this long instead of hanging its handler."""


class RedisSettings(BaseModel):
    """Redis server."""

    url: SecretStr = SecretStr("redis://127.0.0.1:16379/0")
    socket_timeout_s: float = 5.0
    """A command unanswered for this long fails (retryably) instead of hanging its caller."""
    connect_timeout_s: float = 5.0


class LogSettings(BaseModel):
    """Structured logging."""

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    json_output: bool = True
    """JSON lines (production); false gives coloured console output for humans."""


class TelemetrySettings(BaseModel):
    """OpenTelemetry tracing."""

    otlp_endpoint: str | None = None
    """OTLP/HTTP traces endpoint (e.g. ``http://otel-collector:4318/v1/traces``); unset:
    spans still get ids (they travel in Kafka headers and log lines) but are neither recorded
    nor exported, except under a caller's sampled trace."""
    sample_ratio: float = 1.0
    """Share of new traces recorded and exported (with an endpoint)."""


class EdgeSettings(BaseModel):
    """How an API faces the network (``SWITCHBOARD_EDGE__*``)."""

    trusted_proxies: list[Network] = Field(default_factory=list)
    """Networks of the proxies in front (load balancer, ingress controller), e.g.
    ``["10.0.0.0/8"]``. Their ``X-Forwarded-For`` gives the client rate limits key on (the
    rightmost hop that is not one of them); the ingress also rebuilds the URL Twilio signed from
    their ``X-Forwarded-Proto`` / ``-Host``. Empty: the TCP peer is the client."""
    cors_origins: list[str] = Field(default_factory=list)
    """Browser origins allowed to call the API, exactly (``https://console.example.com``);
    empty: no cross-origin access. No ``*``: tokens are bearer credentials, so name the sites."""

    @field_validator("cors_origins")
    @classmethod
    def _origins(cls, origins: list[str]) -> list[str]:
        for origin in origins:
            if not _ORIGIN.match(origin):
                raise ValueError(
                    f"{origin!r} is not an origin: scheme://host[:port], no path, no '*'"
                )
        return origins


class CommonSettings(BaseSettings):
    """Settings every service reads."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="ignore",
    )

    service_name: str = "switchboard"
    environment: str = "local"
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    postgres: PostgresSettings = Field(default_factory=PostgresSettings)
    mongo: MongoSettings = Field(default_factory=MongoSettings)
    redis: RedisSettings = Field(default_factory=RedisSettings)
    log: LogSettings = Field(default_factory=LogSettings)
    telemetry: TelemetrySettings = Field(default_factory=TelemetrySettings)
    edge: EdgeSettings = Field(default_factory=EdgeSettings)
