"""Ingress settings (``SWITCHBOARD_`` env vars; nested with ``__``).

Provider accounts, their secrets and the channels that name each event's tenant are not
settings: they come from the control plane (``control.config``, read with the distribution key
ring ``SWITCHBOARD_CONFIG__KEYS``), live, without restarts.
"""

from functools import lru_cache
from pathlib import Path
from typing import Any, Final, Literal

from pydantic import AnyHttpUrl, BaseModel, Field, SecretStr, model_validator

from switchboard.common.config import ConfigSettings
from switchboard.common.settings import CommonSettings

LEGACY_ENV: Final = (
    "SWITCHBOARD_TWILIO__ACCOUNTS",
    "SWITCHBOARD_WHATSAPP__APPS",
    "SWITCHBOARD_WHATSAPP__VERIFY_TOKENS",
    "SWITCHBOARD_VAPI__SOURCES",
    "SWITCHBOARD_VAPI__AUTH_MODE",
    "SWITCHBOARD_ELEVENLABS__SOURCES",
)
"""Variables the ingress read before the control plane: ignored now, with a warning at start
(the bootstrap file, ``switchboard-control bootstrap``, carries what they held)."""


class VapiSettings(BaseModel):
    """Vapi server-message webhooks (secrets and auth mode are per account, from the control
    plane)."""

    hmac_tolerance_s: int = 300
    """HMAC mode: reject timestamps further than this from now."""


class ElevenLabsSettings(BaseModel):
    """ElevenLabs post-call webhooks, conversation initiation and server tools (secrets are per
    account, from the control plane: ``webhook_secrets`` and ``tool_secrets``)."""

    tolerance_s: int = 1800
    """Reject signatures older than this (the SDK's 30 minutes)."""
    future_tolerance_s: int = 300
    """Reject signatures dated further than this in the future."""


class VoiceSettings(BaseModel):
    """Synchronous voice answers: Vapi ``assistant-request``, ``tool-calls``,
    ``function-call``, ``transfer-destination-request``; ElevenLabs conversation initiation
    and server tools. Asked of the AI service's internal voice API within a deadline below
    the platform's; past it (or when it fails) the fallback below is answered and counted."""

    ai_url: AnyHttpUrl = AnyHttpUrl("http://127.0.0.1:8008")
    """The AI service's internal voice API (``switchboard-ai voice``)."""
    internal_secret: SecretStr = SecretStr("")
    """Sent as ``Authorization: Bearer``; one of the AI's ``SWITCHBOARD_VOICE__INTERNAL_SECRETS``.
    Empty: every synchronous request gets the fallback."""
    assistant_deadline_s: float = Field(default=3.5, gt=0)
    """Vapi ``assistant-request`` and ElevenLabs initiation. Vapi allows 7.5 s end to end (its
    assistant-request page also says ~5 s): this deadline, the event's publish (at most
    ``SWITCHBOARD_SPOOL__PUBLISH_DEADLINE_S``) and the network must fit in it."""
    server_message_deadline_s: float = Field(default=10.0, gt=0)
    """Vapi ``tool-calls``, ``function-call``, ``transfer-destination-request`` (Vapi waits
    the server's ``timeoutSeconds``, 20 s by default)."""
    elevenlabs_tool_deadline_s: float = Field(default=4.0, gt=0)
    """ElevenLabs server tools (their ``response_timeout_secs`` is 5 s at the least)."""
    max_connections: int = 100
    """Pooled connections to the AI service."""
    fallback_transfer_number: str | None = Field(default=None, pattern=r"^\+[1-9][0-9]{6,14}$")
    """When the AI service is late or fails: transfer the caller here (assistant and transfer
    requests); None: speak ``fallback_message`` instead."""
    fallback_message: str = (
        "Sorry, we cannot take your call right now. Someone will call you back shortly."
    )
    """Spoken (or given to the assistant as the tool's result) when the AI service is late."""
    fallback_variables: dict[str, str] = Field(default_factory=dict)
    """ElevenLabs: values of agent variables of your own in a fallback initiation (ElevenLabs
    wants every variable the agent defines); Switchboard's own ones are always sent."""
    unowned_assistant_id: str | None = None
    """Vapi: the assistant for a call on a number, assistant or agent no tenant owns; None:
    the unowned transfer or message."""
    unowned_transfer_number: str | None = Field(default=None, pattern=r"^\+[1-9][0-9]{6,14}$")
    """For a call nobody owns (None: ``fallback_transfer_number``)."""
    unowned_message: str | None = None
    """For a call nobody owns (None: ``fallback_message``)."""


class HttpSettings(BaseModel):
    """Where the ingress listens and how the outside world reaches it."""

    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    public_base_url: AnyHttpUrl = AnyHttpUrl("http://127.0.0.1:8000")
    """The URL providers call (scheme, host, port); Twilio signs it, so it must match exactly."""
    max_body_bytes: int = 4 * 1024 * 1024
    """Larger bodies get 413 (WhatsApp payloads reach 3 MB)."""
    rate_limit_per_second: int = 2000
    """Per client address (behind ``SWITCHBOARD_EDGE__TRUSTED_PROXIES``, the forwarded one);
    0 turns it off. Providers call from few IPs: keep it generous."""
    rate_limit_store: Literal["memory", "redis"] = "memory"
    """``redis`` shares the limit across replicas (uses SWITCHBOARD_REDIS__URL)."""

    @model_validator(mode="before")
    @classmethod
    def _moved(cls, data: Any) -> Any:
        if isinstance(data, dict) and "trusted_proxies" in data:
            raise ValueError(
                "SWITCHBOARD_HTTP__TRUSTED_PROXIES moved to SWITCHBOARD_EDGE__TRUSTED_PROXIES "
                "(every API reads it)"
            )
        return data


class SpoolSettings(BaseModel):
    """The local durable spool that holds events while Kafka is unreachable."""

    directory: Path = Path(".local/ingress-spool")
    """One SQLite file per ingress process (claimed with a file lock) lives here."""
    publish_deadline_s: float = 1.0
    """A publish not acked by then is spooled instead (the webhook is answered at once)."""
    max_events: int = 1_000_000
    """Beyond this the spool refuses (503) rather than fill the disk."""
    drain_batch: int = 500
    drain_retry_s: float = 1.0
    """Pause before the drainer tries again after Kafka failed a whole pass; a record that
    fails while others go through is retried after this, doubling up to a minute."""
    max_attempts: int = Field(default=10, ge=2)
    """A spooled record that fails this many times while other records are acked (about five
    minutes of backoff) moves to the spool's dead-letter table. Records the broker refuses for
    what they are (too large, corrupt, invalid topic) move after one retry on their own;
    records over the record limit that cannot be trimmed move at once."""
    config_snapshot_wait_s: float = Field(default=10.0, ge=0)
    """The control plane's configuration is saved beside the spool; a restarted ingress uses
    that copy only if Kafka has not given it the live one within this time (meanwhile: 503,
    so providers retry rather than get a 403 from a secret rotated while it was away)."""


class IngressSettings(CommonSettings):
    """Everything the ingress reads."""

    service_name: str = "ingress"
    http: HttpSettings = Field(default_factory=HttpSettings)
    config: ConfigSettings = Field(default_factory=ConfigSettings)
    """``control.config`` and the distribution key ring that opens its secrets."""
    vapi: VapiSettings = Field(default_factory=VapiSettings)
    elevenlabs: ElevenLabsSettings = Field(default_factory=ElevenLabsSettings)
    voice: VoiceSettings = Field(default_factory=VoiceSettings)
    spool: SpoolSettings = Field(default_factory=SpoolSettings)


@lru_cache(maxsize=1)
def get_settings() -> IngressSettings:
    """Settings from the environment, read once per process."""
    return IngressSettings()
