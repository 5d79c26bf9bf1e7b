"""Ingress settings (``SWITCHBOARD_`` env vars; nested with ``__``).

Every secret list accepts several values at once, so a secret rotates without downtime:
add the new one, switch the provider, remove the old one.
"""

from functools import lru_cache
from ipaddress import IPv4Network, IPv6Network
from pathlib import Path
from typing import Literal

from pydantic import AnyHttpUrl, BaseModel, Field, SecretStr

from switchboard.common.settings import CommonSettings


class TwilioAccount(BaseModel):
    """One Twilio account whose webhooks the ingress accepts."""

    auth_tokens: list[SecretStr] = Field(min_length=1)
    """Every token currently valid; list the new one beside the old while rotating."""
    tenant: str
    """The Switchboard tenant this account's events belong to."""


class TwilioSettings(BaseModel):
    """Twilio webhook verification."""

    accounts: dict[str, TwilioAccount] = Field(default_factory=dict)
    """AccountSid → account, e.g. ``{"AC…": {"auth_tokens": ["…"], "tenant": "acme"}}``."""


class SignedSource(BaseModel):
    """Secrets of one provider app/workspace and the tenant its events belong to."""

    secrets: list[SecretStr] = Field(min_length=1)
    tenant: str


class WhatsAppSettings(BaseModel):
    """Meta WhatsApp Cloud API webhooks."""

    apps: list[SignedSource] = Field(default_factory=list)
    """App secrets (X-Hub-Signature-256), e.g. ``[{"secrets": ["…"], "tenant": "acme"}]``."""
    verify_tokens: list[SecretStr] = Field(default_factory=list)
    """Tokens accepted in the ``hub.verify_token`` subscription check."""


class VapiSettings(BaseModel):
    """Vapi server-message webhooks."""

    auth_mode: Literal["secret_header", "bearer", "hmac"] = "secret_header"
    """``X-Vapi-Secret``, ``Authorization: Bearer``, or HMAC ``x-signature`` + ``x-timestamp``."""
    sources: list[SignedSource] = Field(default_factory=list)
    hmac_tolerance_s: int = 300
    """HMAC mode: reject timestamps further than this from now."""


class ElevenLabsSettings(BaseModel):
    """ElevenLabs post-call webhooks."""

    sources: list[SignedSource] = Field(default_factory=list)
    tolerance_s: int = 1800
    """Reject signatures older than this (the SDK's 30 minutes)."""
    future_tolerance_s: int = 300
    """Reject signatures dated further than this in the future."""


class HttpSettings(BaseModel):
    """Where the ingress listens and how the outside world reaches it."""

    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    public_base_url: AnyHttpUrl = AnyHttpUrl("http://127.0.0.1:8000")
    """The URL providers call (scheme, host, port); Twilio signs it, so it must match exactly."""
    trusted_proxies: list[IPv4Network | IPv6Network] = Field(default_factory=list)
    """Peers whose X-Forwarded-Proto/Host are believed when rebuilding the signed URL."""
    max_body_bytes: int = 4 * 1024 * 1024
    """Larger bodies get 413 (WhatsApp payloads reach 3 MB)."""
    rate_limit_per_second: int = 2000
    """Per client IP; 0 turns it off. Providers call from few IPs: keep it generous."""
    rate_limit_store: Literal["memory", "redis"] = "memory"
    """``redis`` shares the limit across replicas (uses SWITCHBOARD_REDIS__URL)."""


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


class IngressSettings(CommonSettings):
    """Everything the ingress reads."""

    service_name: str = "ingress"
    http: HttpSettings = Field(default_factory=HttpSettings)
    twilio: TwilioSettings = Field(default_factory=TwilioSettings)
    whatsapp: WhatsAppSettings = Field(default_factory=WhatsAppSettings)
    vapi: VapiSettings = Field(default_factory=VapiSettings)
    elevenlabs: ElevenLabsSettings = Field(default_factory=ElevenLabsSettings)
    spool: SpoolSettings = Field(default_factory=SpoolSettings)


@lru_cache(maxsize=1)
def get_settings() -> IngressSettings:
    """Settings from the environment, read once per process."""
    return IngressSettings()
