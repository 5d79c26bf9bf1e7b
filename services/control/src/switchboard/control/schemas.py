"""Request and response bodies of the control API (the entities themselves come from
:mod:`switchboard.common.config`; account secrets are never returned, only masked)."""

from datetime import datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from switchboard.common.auth import Audience
from switchboard.common.config import PlanLimits
from switchboard.common.config.entities import Slug


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TenantCreate(_Body):
    id: Slug
    name: str = Field(min_length=1, max_length=200)
    status: Literal["active", "suspended"] = "active"
    limits: PlanLimits = Field(default_factory=PlanLimits)


class TenantPatch(_Body):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    status: Literal["active", "suspended"] | None = None
    limits: PlanLimits | None = None


class ModelPriceIn(_Body):
    """The prices of a model the platform offers (USD per 1,000 tokens)."""

    input_per_1k_usd: Decimal = Field(ge=0, max_digits=12, decimal_places=8)
    output_per_1k_usd: Decimal = Field(ge=0, max_digits=12, decimal_places=8)


class ChannelBind(_Body):
    """A tenant binds a channel of one of its accounts."""

    account_id: str
    waba_id: str | None = None
    number: str | None = None


class ChannelPlace(ChannelBind):
    """The operator binds or moves a channel to a tenant."""

    tenant: Slug


class ApiKeyCreate(_Body):
    name: str = Field(min_length=1, max_length=100)
    scopes: list[str] = Field(min_length=1)


class ApiKeyOut(BaseModel):
    id: str
    tenant: str | None
    name: str
    scopes: list[str]
    created_at: datetime
    revoked_at: datetime | None


class ApiKeyIssued(ApiKeyOut):
    key: str
    """The key itself: shown this once, only a hash is kept."""


class TokenRequest(_Body):
    audience: Audience
    scopes: list[str] | None = None
    """A subset of the key's scopes for this audience (default: all of them)."""
    ttl_s: int | None = None


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "Bearer"  # noqa: S105 - the OAuth token type, not a secret
    expires_in: int
    audience: str
    scope: str
    """Space-separated, as in the token's ``scope`` claim."""


class SigningKeyOut(BaseModel):
    kid: str
    algorithm: str = "EdDSA"
    public_key: str
    status: str
    not_after: datetime | None
