"""History settings (``SWITCHBOARD_`` env vars; nested with ``__``)."""

from functools import lru_cache

from pydantic import BaseModel, Field

from switchboard.common.auth import AuthSettings
from switchboard.common.config import ConfigSettings
from switchboard.common.kafka import RetryPolicy
from switchboard.common.settings import CommonSettings
from switchboard.common.topics import Groups


class HistoryHttpSettings(BaseModel):
    """Where the worker serves /health, /ready and /metrics."""

    host: str = "127.0.0.1"
    port: int = 8001


class ApiSettings(BaseModel):
    """The query API process."""

    host: str = "127.0.0.1"
    port: int = 8004
    default_limit: int = 50
    """Page size when the request names none."""
    max_limit: int = 500
    """Largest page a request may ask for."""
    export_chunk_rows: int = Field(default=1000, ge=1)
    """Rows per query of the CSV export (keyset chunks; no transaction spans the export)."""
    export_statement_timeout_s: float = Field(default=10.0, gt=0)
    """Longest run (or lock wait) of one export chunk's query; past it the export fails
    (503 before the first row, a cut-off stream after it) instead of holding on."""


class ConsumerSettings(BaseModel):
    """How the worker reads Kafka."""

    group_id: str = Groups.HISTORY
    """Consumer group (KEDA scales the worker on this group's lag)."""

    max_records: int = 500
    """Largest batch written in one transaction."""
    batch_timeout_ms: int = 200
    retry_pause_s: float = 1.0
    """Pause before a batch that failed with a retryable error is read again; it doubles while
    the failures last (the database is down), up to ``max_retry_pause_s``."""
    max_retry_pause_s: float = 30.0
    """Longest pause before a failed batch is read again."""


class RetentionSettings(BaseModel):
    """Daily partitions: how many days are kept, how many are created ahead."""

    days: int = Field(default=90, ge=1)
    """Partitions whose whole day is older than this many days are dropped."""
    ahead_days: int = Field(default=3, ge=1)
    """Partitions created ahead of today."""
    interval_s: float = 3600.0
    """How often the worker creates and drops partitions."""
    lock_timeout_s: float = Field(default=1.0, gt=0)
    """Longest wait of a partition create/drop for its table lock (PostgreSQL
    ``lock_timeout``); writes queue behind a waiting DDL statement at most this long."""
    retry: RetryPolicy = Field(
        default_factory=lambda: RetryPolicy(attempts=6, initial_backoff_s=5.0, max_backoff_s=120.0)
    )
    """Attempts of one maintenance round and the backoff between them (a lock not granted
    in time, the database away); a round that still fails waits for the next interval."""


class ReconcileSettings(BaseModel):
    """The reconciler: fetches the end of calls that never reported one."""

    enabled: bool = True
    interval_s: float = 60.0
    grace_s: float = 900.0
    """A call silent for this long without a terminal status is looked up."""
    lookback_days: int = 3
    """Only calls first seen this recently are looked up (bounds the scan)."""
    batch_limit: int = 100
    """Calls looked up per round."""
    timeout_s: float = 10.0
    twilio_base_url: str = "https://api.twilio.com"
    vapi_base_url: str = "https://api.vapi.ai"
    elevenlabs_base_url: str = "https://api.elevenlabs.io"
    """ElevenLabs only reports a conversation once it has ended (the post-call webhook), so
    each round lists the recent conversations of every workspace with an API key on the
    control plane and fills in the ones whose report never arrived (under the agent's tenant).
    The credentials of every lookup come from the control plane (``control.config``)."""
    elevenlabs_page_limit: int = Field(default=20, ge=1)
    """Conversation list pages (100 each) read per workspace per round."""


class HistorySettings(CommonSettings):
    """Everything the history service reads."""

    service_name: str = "history"
    database: str = "history"
    default_tenant: str = "default"
    """Tenant for events that carry no ``ce_tenant``."""
    http: HistoryHttpSettings = Field(default_factory=HistoryHttpSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    consumer: ConsumerSettings = Field(default_factory=ConsumerSettings)
    retry: RetryPolicy = Field(default_factory=RetryPolicy)
    retention: RetentionSettings = Field(default_factory=RetentionSettings)
    reconcile: ReconcileSettings = Field(default_factory=ReconcileSettings)
    config: ConfigSettings = Field(default_factory=ConfigSettings)
    """``control.config`` and the distribution key ring: the providers' credentials the
    reconciler and the recording deletion use come from the control plane, live; the API also
    follows its token signing keys there."""


@lru_cache(maxsize=1)
def get_settings() -> HistorySettings:
    """Settings from the environment, read once per process."""
    return HistorySettings()
