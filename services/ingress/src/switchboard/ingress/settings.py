"""Ingress settings (``SWITCHBOARD_`` env vars; nested with ``__``)."""

from functools import lru_cache

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


class HttpSettings(BaseModel):
    """Where the ingress listens and how the outside world reaches it."""

    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    public_base_url: AnyHttpUrl = AnyHttpUrl("http://127.0.0.1:8000")
    """The URL providers call (scheme, host, port); Twilio signs it, so it must match exactly."""


class IngressSettings(CommonSettings):
    """Everything the ingress reads."""

    service_name: str = "ingress"
    http: HttpSettings = Field(default_factory=HttpSettings)
    twilio: TwilioSettings = Field(default_factory=TwilioSettings)


@lru_cache(maxsize=1)
def get_settings() -> IngressSettings:
    """Settings from the environment, read once per process."""
    return IngressSettings()
