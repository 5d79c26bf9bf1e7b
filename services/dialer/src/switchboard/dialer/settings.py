"""Dialer settings (``SWITCHBOARD_`` env vars; nested with ``__``)."""

from datetime import time
from functools import lru_cache
from typing import Literal

from pydantic import AnyHttpUrl, BaseModel, Field

from switchboard.common.auth import AuthSettings
from switchboard.common.config import ConfigSettings
from switchboard.common.settings import CommonSettings
from switchboard.common.topics import Groups

CallbackEvent = Literal["initiated", "ringing", "answered", "completed"]


class ApiHttpSettings(BaseModel):
    """Where the campaigns API listens."""

    host: str = "127.0.0.1"
    port: int = 8002


class WorkerHttpSettings(BaseModel):
    """Where a worker serves /health, /ready and /metrics."""

    host: str = "127.0.0.1"
    port: int = 8005


class TwilioSettings(BaseModel):
    """How calls are placed."""

    api_base_url: AnyHttpUrl = AnyHttpUrl("https://api.twilio.com")
    """Twilio REST base; point it at the provider simulator locally."""
    request_timeout_s: float = 10.0
    """Longest wait for one REST request; must stay well below ``worker.claim_lease_s``."""
    callback_overrides: str = "rc=3&rp=all"
    """Connection-override fragment on the StatusCallback URL so 5xx answers are retried."""
    status_callback_events: tuple[CallbackEvent, ...] = (
        "initiated",
        "ringing",
        "answered",
        "completed",
    )
    """Status callbacks asked for; the dialer itself needs only ``completed`` (the terminal
    status); the others feed history's call timeline."""
    amd_callback_path: str = "/webhooks/twilio/voice/status"
    """Ingress route of asynchronous AMD results (the ingress takes them with the statuses)."""
    call_timeout_s: int = 30
    """Ring time before no-answer (Twilio ``Timeout``)."""
    call_time_limit_s: int = 3600
    """Longest call (Twilio ``TimeLimit``); an in-flight slot's lease is this plus a margin."""


class WindowSettings(BaseModel):
    """The widest calling window any campaign may use (each contact's local time)."""

    start: time = time(8, 0)
    end: time = time(21, 0)


class WorkerSettings(BaseModel):
    """How a worker claims, paces and recovers."""

    worker_id: str | None = None
    """Name in attempt rows (default: host name + pid)."""
    claim_lease_s: float = 30.0
    """A claimed attempt not placed within this is resolved by asking the provider."""
    slot_margin_s: float = 600.0
    """Added to ``twilio.call_time_limit_s`` for the lease of a placed call's in-flight slot."""
    batch_window_s: float = 0.1
    """Each claim takes about this many seconds' worth of calls (at the campaign's rate)."""
    max_batch: int = 50
    pacing_tolerance_s: float = 0.05
    """A late worker may catch up on missed pacing slots this far back (0: strict spacing)."""
    max_pending_placements: int = 2000
    """Claimed calls waiting for their pacing slot or the provider, per worker."""
    idle_poll_s: float = 0.5
    """Pause when no campaign has a due contact (commands wake the worker earlier)."""
    full_poll_s: float = 0.02
    """Pause when the concurrency cap is reached."""
    recovery_interval_s: float = 2.0
    status_check_after_s: float = 900.0
    """A placed call with no final status after this is looked up at the provider (its
    final callback may have been lost); still live there → looked up again later."""
    status_recheck_s: float = 300.0
    relay_interval_s: float = 0.05
    throttle_backoff_s: float = 1.0
    """Provider 429 (20429): the account's bucket stops for this long and runs at half rate."""
    throttle_recover_s: float = 10.0
    retry_not_placed_s: float = 5.0
    """Delay before retrying a contact the provider refused for capacity (10004, 22005)."""


class ConsumerSettings(BaseModel):
    """How the worker reads Kafka."""

    group_id: str = Groups.DIALER
    """Shared group for call.events and message.inbound (outcomes, opt-outs)."""
    auto_offset_reset: Literal["earliest", "latest"] = "earliest"
    """Where the shared group starts when it has no committed offset yet."""
    max_records: int = 500
    """Largest batch of call.events / message.inbound records handled at once."""
    batch_timeout_ms: int = 100
    fetch_min_bytes: int = 65536
    """The broker holds a fetch until this much data (or ``batch_timeout_ms``): fewer, fuller
    batches, so fewer fetch and offset-commit round trips per event."""
    retry_pause_s: float = 1.0
    """Pause before a batch that failed with a retryable error is read again."""
    commands_group_prefix: str = "dialer-commands"
    """Each replica reads dial.commands in a group of its own: ``<prefix>-<worker id>``."""


class DialerSettings(CommonSettings):
    """Everything the dialer reads."""

    service_name: str = "dialer"
    database: str = "dialer"
    api: ApiHttpSettings = Field(default_factory=ApiHttpSettings)
    http: WorkerHttpSettings = Field(default_factory=WorkerHttpSettings)
    auth: AuthSettings = Field(default_factory=AuthSettings)
    config: ConfigSettings = Field(default_factory=ConfigSettings)
    """``control.config`` and the distribution key ring: the tenants' Twilio accounts, caller
    IDs and plan limits come from the control plane, live; the APIs also follow its token
    signing keys there."""
    twilio: TwilioSettings = Field(default_factory=TwilioSettings)
    window: WindowSettings = Field(default_factory=WindowSettings)
    worker: WorkerSettings = Field(default_factory=WorkerSettings)
    consumer: ConsumerSettings = Field(default_factory=ConsumerSettings)
    ingress_public_url: AnyHttpUrl = AnyHttpUrl("http://127.0.0.1:8000")
    """The ingress as providers reach it; status callbacks go to its Twilio routes."""
    redis_prefix: str = "dialer"
    """Prefix of every Redis key (pacing buckets, in-flight slots)."""
    redis_max_connections: int = 64
    """Redis connections per worker; callers wait for a free one."""
    upload_processes: int = 2
    """Processes that validate uploaded phone numbers (phonenumbers is CPU-bound)."""
    max_rejections_listed: int = 100
    """Rejected CSV rows listed in an upload's answer (all are counted by reason)."""
    opt_out_keywords: list[str] = Field(
        default_factory=lambda: [
            "STOP",
            "STOPALL",
            "UNSUBSCRIBE",
            "CANCEL",
            "END",
            "QUIT",
            "OPTOUT",
            "OPT OUT",
            "REVOKE",
        ]
    )


@lru_cache(maxsize=1)
def get_settings() -> DialerSettings:
    """Settings from the environment, read once per process."""
    return DialerSettings()
