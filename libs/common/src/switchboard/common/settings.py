"""Settings shared by every service: env vars with the ``SWITCHBOARD_`` prefix.

Nested sections use ``__``: ``SWITCHBOARD_KAFKA__BOOTSTRAP_SERVERS=127.0.0.1:19092``.
Each service subclasses :class:`CommonSettings` and adds its own section.
"""

from typing import Literal

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "SWITCHBOARD_"


class KafkaSettings(BaseModel):
    """Kafka connection and producer behaviour."""

    bootstrap_servers: str = "127.0.0.1:19092"
    """Comma-separated host:port list."""
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


class RedisSettings(BaseModel):
    """Redis server."""

    url: SecretStr = SecretStr("redis://127.0.0.1:16379/0")


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
