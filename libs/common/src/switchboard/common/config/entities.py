"""The control plane's entities: the typed contract of the compacted ``control.config`` topic.

Written by the control plane, read by every service through
:class:`~switchboard.common.config.follower.ConfigFollower`. Each entity has one Kafka key
(:attr:`ConfigEntity.key`) and travels whole (the topic keeps the last value of each key; a
tombstone deletes it):

    tenant/<id>               Tenant       name, status, plan limits
    account/<provider>/<id>   *Account     secrets (sealed on the wire), the tenants holding it
    channel/<kind>/<id>       Channel      number / phone_number_id / assistant / agent → tenant
    signing-key/<kid>         SigningKey   a public key verifying the control plane's tokens
    model/<name>              ModelPrice   a model the platform offers, and its prices

Secret fields are :data:`Secret`: at least 16 characters, never shown by ``repr`` or a plain
dump, and sealed with AES-256-GCM when dumped with a :class:`Sealing` context (see
:mod:`switchboard.common.config.codec`). In lists of secrets the first is the current one
(used to sign or call the provider); all of them are accepted when verifying, so a secret
rotates without downtime: put the new one first, switch the provider, remove the old one.
"""

import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Final, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    SecretStr,
    SerializationInfo,
    StringConstraints,
    ValidationInfo,
    model_validator,
)

from switchboard.common.crypto import Cipher, Sealed

SECRET_MIN_CHARS: Final = 16
MASK: Final = "**********"


@dataclass(frozen=True, slots=True)
class Sealing:
    """Validation/serialization context: seal or open secrets with ``cipher``; ``context`` is
    the associated data that binds each ciphertext to its entity."""

    cipher: Cipher
    context: str


def _sealing(context: object) -> Sealing | None:
    found = context.get("sealing") if isinstance(context, dict) else None
    return found if isinstance(found, Sealing) else None


def _open_sealed(value: Any, info: ValidationInfo) -> Any:
    if not Sealed.looks_sealed(value):
        return value
    sealing = _sealing(info.context)
    if sealing is None:
        raise ValueError("a sealed secret needs a key ring to be read")
    return sealing.cipher.open(Sealed.from_json(value), sealing.context)


def _long_enough(value: SecretStr) -> SecretStr:
    if len(value.get_secret_value()) < SECRET_MIN_CHARS:
        raise ValueError(f"a secret must be at least {SECRET_MIN_CHARS} characters")
    return value


def _seal_or_mask(value: SecretStr, info: SerializationInfo) -> Any:
    sealing = _sealing(info.context)
    if sealing is None:
        return MASK
    return sealing.cipher.seal(value.get_secret_value(), sealing.context).to_json()


Secret = Annotated[
    SecretStr,
    BeforeValidator(_open_sealed),
    AfterValidator(_long_enough),
    PlainSerializer(_seal_or_mask, when_used="json"),
]
"""A provider secret: >= 16 characters; masked in plain dumps, sealed under a :class:`Sealing`."""

Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")]
"""Tenant ids: lower-case letters, digits, ``-`` and ``_`` (they appear in keys and URLs)."""
ProviderId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")]
"""Ids given by a provider (assistant, agent, app, workspace ids)."""
E164 = Annotated[str, StringConstraints(pattern=r"^\+[1-9][0-9]{6,14}$")]
Digits = Annotated[str, StringConstraints(pattern=r"^[0-9]{1,32}$")]


class ConfigEntity(BaseModel):
    """What every entity carries besides its own fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    entity: str
    """What the entity is (``tenant``, ``account``, ``channel``, ``signing-key``)."""
    version: int = 0
    """Increases with every change of the entity in the control plane."""
    updated_at: datetime | None = None

    @property
    def key(self) -> str:
        raise NotImplementedError


# --- tenants -----------------------------------------------------------------------------------


class PlanLimits(BaseModel):
    """Limits of a tenant's plan, set by the operator (a tenant may lower, never raise them)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    spend_per_day_usd: Decimal = Field(default=Decimal("10"), ge=0, max_digits=12, decimal_places=4)
    """Model spend the platform pays for this tenant per UTC day."""
    calls_per_second: float = Field(default=1.0, gt=0)
    """Outbound calls started per second, over all the tenant's campaigns."""
    concurrent_calls: int = Field(default=10, ge=1)
    """Outbound calls live at once, over all the tenant's campaigns."""
    allowed_models: tuple[str, ...] = ()
    """Models the tenant's businesses may use; empty: only the platform's default model."""


class Tenant(ConfigEntity):
    entity: Literal["tenant"] = "tenant"
    id: Slug
    name: str = Field(min_length=1, max_length=200)
    status: Literal["active", "suspended"] = "active"
    """A suspended tenant gets no tokens; services stop acting for it."""
    limits: PlanLimits = Field(default_factory=PlanLimits)

    @property
    def key(self) -> str:
        return f"tenant/{self.id}"


# --- provider accounts -------------------------------------------------------------------------


Provider = Literal["twilio", "whatsapp", "vapi", "elevenlabs"]
PROVIDERS: Final[tuple[Provider, ...]] = ("twilio", "whatsapp", "vapi", "elevenlabs")


class AccountBase(ConfigEntity):
    entity: Literal["account"] = "account"
    provider: Provider
    id: str
    tenants: tuple[Slug, ...] = Field(min_length=1)
    """The tenants holding this account (usually one; a shared account is the operator's to
    manage). Only they may bind its channels; the tenant of an event comes from its channel."""

    @property
    def key(self) -> str:
        return f"account/{self.provider}/{self.id}"


class TwilioApiKey(BaseModel):
    """A Twilio API key (``SK…``) and its secret: REST calls without the auth token."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sid: Annotated[str, StringConstraints(pattern=r"^SK[0-9a-fA-F]{32}$")]
    secret: Secret


class TwilioAccount(AccountBase):
    provider: Literal["twilio"] = "twilio"
    id: Annotated[str, StringConstraints(pattern=r"^AC[0-9a-fA-F]{32}$")]
    """The AccountSid."""
    auth_tokens: tuple[Secret, ...] = Field(min_length=1)
    """Sign the webhooks (X-Twilio-Signature); the first also authenticates REST calls."""
    api_keys: tuple[TwilioApiKey, ...] = ()
    """Preferred for REST calls when present (the first one)."""
    cps: float = Field(default=1.0, gt=0)
    """The account's calls per second at Twilio."""
    max_concurrent: int = Field(default=100, ge=1)
    """The account's live-call limit at Twilio."""

    def rest_auth(self) -> tuple[str, str]:
        """(username, password) of REST calls: the first API key when there is one, else
        the AccountSid and the current (first) auth token."""
        if self.api_keys:
            return self.api_keys[0].sid, self.api_keys[0].secret.get_secret_value()
        return self.id, self.auth_tokens[0].get_secret_value()


class WhatsAppAccount(AccountBase):
    provider: Literal["whatsapp"] = "whatsapp"
    id: ProviderId
    """The Meta app id."""
    app_secrets: tuple[Secret, ...] = Field(min_length=1)
    """Sign the webhooks (X-Hub-Signature-256)."""
    verify_tokens: tuple[Secret, ...] = ()
    """Accepted as ``hub.verify_token`` in the subscription check."""
    waba_ids: tuple[Digits, ...] = Field(min_length=1)
    """WhatsApp Business Accounts of the app (a webhook batch names its WABA)."""
    access_tokens: tuple[Secret, ...] = ()
    """Bearer tokens of the Cloud API (sending); the first is used."""


class VapiAccount(AccountBase):
    provider: Literal["vapi"] = "vapi"
    id: ProviderId
    """The Vapi organization id (or any name the operator chooses)."""
    auth_mode: Literal["secret_header", "bearer", "hmac"] = "secret_header"
    """How the webhooks authenticate: ``X-Vapi-Secret``, ``Authorization: Bearer``, or HMAC."""
    webhook_secrets: tuple[Secret, ...] = Field(min_length=1)
    """The server secret (secret_header/bearer) or HMAC key."""
    api_keys: tuple[Secret, ...] = ()
    """Private API keys (call lookups); the first is used."""


class ElevenLabsAccount(AccountBase):
    provider: Literal["elevenlabs"] = "elevenlabs"
    id: ProviderId
    """The ElevenLabs workspace (any name the operator chooses)."""
    webhook_secrets: tuple[Secret, ...] = Field(min_length=1)
    """HMAC secrets of the post-call webhooks (ElevenLabs-Signature)."""
    api_keys: tuple[Secret, ...] = ()
    """``xi-api-key`` values (conversation lookups); the first is used."""
    tool_secrets: tuple[Secret, ...] = ()
    """Secrets ElevenLabs sends as ``Authorization: Bearer`` (workspace secrets in the
    headers of the conversation-initiation webhook and of server tools); any one verifies."""


Account = Annotated[
    TwilioAccount | WhatsAppAccount | VapiAccount | ElevenLabsAccount,
    Field(discriminator="provider"),
]
# --- channels ----------------------------------------------------------------------------------

ChannelKind = Literal["phone", "whatsapp", "vapi-phone", "vapi-assistant", "elevenlabs-agent"]
CHANNEL_KINDS: Final[tuple[ChannelKind, ...]] = (
    "phone",
    "whatsapp",
    "vapi-phone",
    "vapi-assistant",
    "elevenlabs-agent",
)
PROVIDER_OF: Final[dict[ChannelKind, Provider]] = {
    "phone": "twilio",
    "whatsapp": "whatsapp",
    "vapi-phone": "vapi",
    "vapi-assistant": "vapi",
    "elevenlabs-agent": "elevenlabs",
}
_E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
_DIGITS = re.compile(r"^[0-9]{1,32}$")
_PROVIDER_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")


def channel_id_problem(kind: str, channel_id: str) -> str | None:
    """Why ``channel_id`` is not an id of ``kind`` (None: it is)."""
    if kind == "phone":
        return None if _E164.match(channel_id) else "a phone channel id is an E.164 number"
    if kind == "whatsapp":
        return None if _DIGITS.match(channel_id) else "a WhatsApp phone_number_id is digits"
    if _PROVIDER_ID.match(channel_id):
        return None
    return "a channel id is 1-128 letters, digits, '_', '.', ':' or '-'"


class Channel(ConfigEntity):
    """Where events arrive, bound to exactly one tenant (and an account that tenant holds)."""

    entity: Literal["channel"] = "channel"
    kind: ChannelKind
    id: str
    """E.164 number (phone), phone_number_id (whatsapp), or the provider's id."""
    tenant: Slug
    account_id: str
    """The account of provider :attr:`provider` the channel belongs to."""
    waba_id: Digits | None = None
    """WhatsApp: the WABA of the phone_number_id (one of the account's ``waba_ids``)."""
    number: E164 | None = None
    """Vapi phone numbers: the E.164 number behind the Vapi id (optional)."""

    @model_validator(mode="after")
    def _shape(self) -> "Channel":
        problem = channel_id_problem(self.kind, self.id)
        if problem:
            raise ValueError(problem)
        if (self.kind == "whatsapp") != (self.waba_id is not None):
            raise ValueError("waba_id is required for whatsapp channels and only for them")
        if self.number is not None and self.kind != "vapi-phone":
            raise ValueError("number is only for vapi-phone channels")
        return self

    @property
    def provider(self) -> Provider:
        return PROVIDER_OF[self.kind]

    @property
    def account_key(self) -> str:
        return f"account/{self.provider}/{self.account_id}"

    @property
    def key(self) -> str:
        return f"channel/{self.kind}/{self.id}"


# --- token signing keys ------------------------------------------------------------------------


class SigningKey(ConfigEntity):
    """A public key verifying the control plane's tokens (``kid`` header)."""

    entity: Literal["signing-key"] = "signing-key"
    kid: ProviderId
    algorithm: Literal["EdDSA"] = "EdDSA"
    public_key: str
    """Ed25519, PEM (SubjectPublicKeyInfo)."""
    status: Literal["active", "retired"] = "active"
    """``active``: signs new tokens. ``retired``: only verifies tokens it signed earlier."""
    not_after: datetime | None = None
    """Retired keys: every token they signed has expired by then; refused afterwards."""

    @property
    def key(self) -> str:
        return f"signing-key/{self.kid}"


# --- models ------------------------------------------------------------------------------------


class ModelPrice(ConfigEntity):
    """A model the platform offers (the operator's allow-list) and what the platform pays for
    it. A model without one is refused; a tenant's plan narrows the list further
    (:attr:`PlanLimits.allowed_models`)."""

    entity: Literal["model"] = "model"
    id: ProviderId
    """The model's name as the model server knows it (``gpt-4o-mini``)."""
    input_per_1k_usd: Decimal = Field(ge=0, max_digits=12, decimal_places=8)
    """USD per 1,000 prompt tokens."""
    output_per_1k_usd: Decimal = Field(ge=0, max_digits=12, decimal_places=8)
    """USD per 1,000 completion tokens."""

    @property
    def key(self) -> str:
        return f"model/{self.id}"


Entity = Annotated[
    Tenant | Account | Channel | SigningKey | ModelPrice,
    Field(discriminator="entity"),
]
"""Any value of ``control.config``."""
