"""Records and pure rules of the control plane: API keys, token grants, who may bind a
channel or change an account. No I/O; the entities themselves are the shared contract in
:mod:`switchboard.common.config`."""

import hashlib
import hmac
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from pydantic import ValidationError

from switchboard.common.auth import TENANT_SCOPES, Audience, Scope, scopes_for
from switchboard.common.config import (
    AccountBase,
    Channel,
    ConfigEntity,
    ElevenLabsAccount,
    Provider,
    TwilioAccount,
    VapiAccount,
    WhatsAppAccount,
)
from switchboard.common.crypto import Sealed
from switchboard.control.errors import (
    ChannelUnavailable,
    Forbidden,
    InvalidRequest,
    NotFound,
)

API_KEY_PREFIX: Final = "sbk"
ACCOUNT_MODELS: Final[Mapping[Provider, type[AccountBase]]] = {
    "twilio": TwilioAccount,
    "whatsapp": WhatsAppAccount,
    "vapi": VapiAccount,
    "elevenlabs": ElevenLabsAccount,
}

SECRET_FIELDS: Final[Mapping[Provider, tuple[str, ...]]] = {
    "twilio": ("auth_tokens", "api_keys"),
    "whatsapp": ("app_secrets", "verify_tokens", "access_tokens"),
    "vapi": ("webhook_secrets", "api_keys"),
    "elevenlabs": ("webhook_secrets", "api_keys", "tool_secrets"),
}
"""The fields a tenant may replace through ``PUT /v1/accounts/.../secrets`` (rotation)."""


# --- API keys ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A stored API key: only a hash of its secret is kept."""

    id: str
    tenant: str | None
    """``None``: a platform operator's key."""
    name: str
    scopes: frozenset[str]
    secret_hash: bytes
    created_at: datetime
    revoked_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class IssuedApiKey:
    """A new key and its plaintext, shown once."""

    record: ApiKey
    plaintext: str


def _hash(secret: str) -> bytes:
    # The secret is 256 random bits, so a plain SHA-256 is enough (no password stretching).
    return hashlib.sha256(secret.encode()).digest()


def issue_api_key(
    tenant: str | None, name: str, scopes: Iterable[str], now: datetime
) -> IssuedApiKey:
    """A new key ``sbk_<id>_<secret>``; the caller stores the record and shows the plaintext."""
    key_id, secret = secrets.token_hex(8), secrets.token_urlsafe(32)
    record = ApiKey(key_id, tenant, name, frozenset(scopes), _hash(secret), now)
    return IssuedApiKey(record, f"{API_KEY_PREFIX}_{key_id}_{secret}")


def parse_api_key(presented: str) -> tuple[str, str] | None:
    """``(id, secret)`` of a presented key; None when it is not shaped like one."""
    prefix, _, rest = presented.partition("_")
    key_id, _, secret = rest.partition("_")
    if prefix != API_KEY_PREFIX or not key_id or not secret:
        return None
    return key_id, secret


def key_matches(record: ApiKey, secret: str) -> bool:
    return record.revoked_at is None and hmac.compare_digest(record.secret_hash, _hash(secret))


def checked_scopes(
    tenant: str | None, scopes: Iterable[str], *, within: frozenset[str] | None = None
) -> frozenset[str]:
    """The scopes of a new key: known ones; ``tenants:admin`` only for operator keys, and
    operator keys hold nothing else; never more than ``within`` (the creating key's)."""
    wanted = frozenset(scopes)
    unknown = sorted(wanted - {s.value for s in Scope})
    if unknown:
        raise InvalidRequest(f"unknown scope {', '.join(unknown)}")
    if not wanted:
        raise InvalidRequest("a key needs at least one scope")
    if tenant is None and wanted != {Scope.TENANTS_ADMIN}:
        raise InvalidRequest("an operator key has the scope tenants:admin and no other")
    if tenant is not None and not wanted <= TENANT_SCOPES:
        raise InvalidRequest("tenants:admin is only for operator keys")
    if within is not None and not wanted <= within:
        beyond = ", ".join(sorted(wanted - within))
        raise Forbidden(f"a key cannot grant more than its creator holds ({beyond})")
    return wanted


# --- tokens ------------------------------------------------------------------------------------


def token_scopes(
    key: ApiKey, audience: Audience, requested: Iterable[str] | None
) -> frozenset[str]:
    """The scopes a token for ``audience`` carries: the key's scopes of that service, or the
    requested subset of them."""
    granted = scopes_for(audience, key.scopes)
    if requested is not None:
        asked = frozenset(requested)
        missing = sorted(asked - granted)
        if missing:
            raise Forbidden(f"this key cannot grant {', '.join(missing)} for {audience.value}")
        granted = asked
    if not granted:
        raise Forbidden(f"this key has no scope for the audience {audience.value}")
    return granted


def token_ttl(requested_s: int | None, default_s: int, max_s: int) -> timedelta:
    seconds = default_s if requested_s is None else requested_s
    if not 1 <= seconds <= max_s:
        raise InvalidRequest(f"ttl_s must be between 1 and {max_s}")
    return timedelta(seconds=seconds)


@dataclass(frozen=True, slots=True)
class StoredSigningKey:
    """A token signing key as stored: the private half sealed at rest."""

    kid: str
    private_key: Sealed
    public_key: str
    status: str
    created_at: datetime
    not_after: datetime | None = None


def signing_context(kid: str) -> str:
    """Associated data of a private signing key at rest."""
    return f"control.signing-key:{kid}"


def at_rest_context(key: str) -> str:
    """Associated data of an entity's secrets at rest."""
    return f"control.at-rest:{key}"


# --- channels and accounts ---------------------------------------------------------------------


def check_bind(
    actor: str | None, channel: Channel, account: AccountBase | None, existing: Channel | None
) -> None:
    """May ``actor`` (a tenant; ``None``: the operator) bind ``channel``?

    A tenant: only on an account it holds, and not a channel another tenant holds — refused
    with one answer for both, so the answer never reveals another tenant. The operator may
    bind or move any channel to a tenant that holds the account.
    """
    if actor is not None and (account is None or actor not in account.tenants):
        raise ChannelUnavailable
    if account is None:
        raise InvalidRequest(f"no account {channel.account_key}")
    if channel.tenant not in account.tenants:
        raise InvalidRequest(f"tenant {channel.tenant} does not hold {channel.account_key}")
    waba_ids: tuple[str, ...] = getattr(account, "waba_ids", ())
    if channel.waba_id is not None and channel.waba_id not in waba_ids:
        raise InvalidRequest(f"waba_id {channel.waba_id} is not a WABA of {channel.account_key}")
    if actor is not None and existing is not None and existing.tenant != actor:
        raise ChannelUnavailable


def check_unbind(actor: str | None, existing: Channel | None) -> Channel:
    """The channel ``actor`` may unbind (its own; the operator: any)."""
    if existing is None or (actor is not None and existing.tenant != actor):
        raise NotFound("no such channel bound to this tenant")
    return existing


def check_manage_secrets(actor: str, account: AccountBase | None) -> AccountBase:
    """A tenant replaces the secrets of an account only it holds (a shared account is the
    operator's to manage)."""
    if account is None or actor not in account.tenants:
        raise NotFound("no such account held by this tenant")
    if account.tenants != (actor,):
        raise Forbidden("this account is shared by several tenants; the operator manages it")
    return account


def validation_errors(exc: ValidationError) -> list[dict[str, str]]:
    """``[{"key": "auth_tokens.0", "message": ...}]``: the fields a request got wrong."""
    return [
        {"key": ".".join(str(p) for p in error["loc"]), "message": error["msg"]}
        for error in exc.errors(include_url=False, include_input=False)
    ]


def parse_account(doc: Mapping[str, Any]) -> AccountBase:
    """An account from request data; InvalidRequest naming the fields on failure."""
    provider = doc.get("provider")
    model = next((m for p, m in ACCOUNT_MODELS.items() if p == provider), None)
    if model is None:
        raise InvalidRequest(f"no provider {provider}")
    try:
        return model.model_validate(doc)
    except ValidationError as exc:
        raise InvalidRequest("invalid account", validation_errors(exc)) from exc


def with_secrets(account: AccountBase, secrets_: Mapping[str, Any]) -> AccountBase:
    """``account`` with the secret fields of ``secrets_`` replaced (validated again)."""
    allowed = SECRET_FIELDS[account.provider]
    unknown = sorted(set(secrets_) - set(allowed))
    if unknown:
        raise InvalidRequest(
            f"not a secret field of a {account.provider} account: {', '.join(unknown)}",
            [{"key": name, "message": f"one of {', '.join(allowed)}"} for name in unknown],
        )
    return parse_account({**account.model_dump(), **secrets_})


def same(a: ConfigEntity | None, b: ConfigEntity | None) -> bool:
    """Equal but for version and update time (secrets compared by value)."""
    if a is None or b is None:
        return a is b
    blank = {"version": 0, "updated_at": None}
    return a.model_copy(update=blank) == b.model_copy(update=blank)
