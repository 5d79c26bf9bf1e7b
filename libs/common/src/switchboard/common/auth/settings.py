"""How an API checks the control plane's tokens and limits each tenant (``SWITCHBOARD_AUTH__*``)."""

from typing import Literal

from pydantic import BaseModel, Field

from switchboard.common.auth.tokens import ISSUER


class AuthSettings(BaseModel):
    """Bearer tokens of the control plane (EdDSA, one audience per service, scopes) and the
    per-tenant request limit."""

    public_keys: dict[str, str] = Field(default_factory=dict)
    """The control plane's Ed25519 public keys (PEM) by key id. Empty (the default): they are
    followed live on ``control.config`` (``signing-key/*``), so a signing-key rotation needs no
    restart. Set them only where no topic is followed (tests, tools)."""
    issuer: str = ISSUER
    """The ``iss`` every token must carry (the control plane's ``SWITCHBOARD_TOKENS__ISSUER``)."""
    keys_wait_s: float = Field(default=30.0, ge=0)
    """At start, wait this long for the signing keys on ``control.config`` before serving
    (every token gets 401 until they are read; ``/ready`` says so)."""
    rate_limit_per_second: int = Field(default=50, ge=0)
    """Requests per second per tenant (the token's tenant; an operator token: per key); 429
    with ``Retry-After`` beyond it. ``0`` turns it off."""
    rate_limit_store: Literal["memory", "redis"] = "memory"
    """``memory``: per replica; ``redis`` (``SWITCHBOARD_REDIS__URL``): one limit across
    replicas."""
