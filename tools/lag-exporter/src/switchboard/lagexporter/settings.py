"""Lag exporter settings (``SWITCHBOARD_`` env vars; nested with ``__``)."""

from functools import lru_cache

from pydantic import BaseModel, Field

from switchboard.common.settings import CommonSettings
from switchboard.common.topics import Groups


class HttpSettings(BaseModel):
    """Where /health, /ready and /metrics are served."""

    host: str = "127.0.0.1"
    port: int = 8011


class LagSettings(BaseModel):
    """Which groups are measured, and how often."""

    groups: list[str] = Field(
        default_factory=lambda: [Groups.HISTORY, Groups.DIALER, Groups.AI], min_length=1
    )
    """Consumer groups whose lag is exported (JSON list): the ones KEDA scales on."""
    poll_interval_s: float = Field(default=10.0, gt=0)
    """How often committed and end offsets are read from Kafka."""
    stale_after_s: float = Field(default=60.0, gt=0)
    """A measurement older than this (Kafka unreachable since) is no longer exported, and
    ``/ready`` fails: an old lag would hide a stalled group."""


class LagExporterSettings(CommonSettings):
    """Everything the lag exporter reads."""

    service_name: str = "lag-exporter"
    http: HttpSettings = Field(default_factory=HttpSettings)
    lag: LagSettings = Field(default_factory=LagSettings)


@lru_cache
def get_settings() -> LagExporterSettings:
    return LagExporterSettings()
