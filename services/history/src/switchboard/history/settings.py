"""History settings (``SWITCHBOARD_`` env vars; nested with ``__``)."""

from functools import lru_cache

from pydantic import BaseModel, Field

from switchboard.common.settings import CommonSettings
from switchboard.common.topics import Groups


class HistoryHttpSettings(BaseModel):
    """Where the history processes listen."""

    host: str = "127.0.0.1"
    port: int = 8001


class ConsumerSettings(BaseModel):
    """How the worker reads Kafka."""

    group_id: str = Groups.HISTORY
    """Consumer group (KEDA scales the worker on this group's lag)."""

    max_records: int = 500
    """Largest batch written in one transaction."""
    batch_timeout_ms: int = 200


class HistorySettings(CommonSettings):
    """Everything the history service reads."""

    service_name: str = "history"
    database: str = "history"
    default_tenant: str = "default"
    """Tenant for events that carry no ``ce_tenant``."""
    http: HistoryHttpSettings = Field(default_factory=HistoryHttpSettings)
    consumer: ConsumerSettings = Field(default_factory=ConsumerSettings)


@lru_cache(maxsize=1)
def get_settings() -> HistorySettings:
    """Settings from the environment, read once per process."""
    return HistorySettings()
