"""The audiences (one per service API) and scopes of the control plane's tokens.

A token is minted for one audience and carries only the scopes of that audience that its API
key holds, so a token that leaks from one service is worth nothing at another.
"""

from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import Final


class Audience(StrEnum):
    """The service API a token is meant for (its ``aud`` claim)."""

    HISTORY = "history"
    DIALER = "dialer"
    AI = "ai"
    CONTROL = "control"


class Scope(StrEnum):
    """What a token lets its holder do (its space-separated ``scope`` claim)."""

    HISTORY_READ = "history:read"
    HISTORY_WRITE = "history:write"
    """Deletes a call's recordings (at the provider too)."""
    CAMPAIGNS_READ = "campaigns:read"
    CAMPAIGNS_WRITE = "campaigns:write"
    BUSINESSES_READ = "businesses:read"
    BUSINESSES_ADMIN = "businesses:admin"
    CONTROL_READ = "control:read"
    """A tenant reads its own tenant record, accounts (never their secrets) and channels."""
    CHANNELS_WRITE = "channels:write"
    """A tenant binds and unbinds channels on accounts it holds."""
    ACCOUNTS_WRITE = "accounts:write"
    """A tenant replaces the secrets of an account only it holds (rotation)."""
    KEYS_ADMIN = "keys:admin"
    """A tenant creates and revokes its own API keys (never with more scopes than its own)."""
    TENANTS_ADMIN = "tenants:admin"
    """The platform operator: tenants, limits, accounts, channel moves, signing keys."""


AUDIENCE_OF: Final[Mapping[Scope, Audience]] = {
    Scope.HISTORY_READ: Audience.HISTORY,
    Scope.HISTORY_WRITE: Audience.HISTORY,
    Scope.CAMPAIGNS_READ: Audience.DIALER,
    Scope.CAMPAIGNS_WRITE: Audience.DIALER,
    Scope.BUSINESSES_READ: Audience.AI,
    Scope.BUSINESSES_ADMIN: Audience.AI,
    Scope.CONTROL_READ: Audience.CONTROL,
    Scope.CHANNELS_WRITE: Audience.CONTROL,
    Scope.ACCOUNTS_WRITE: Audience.CONTROL,
    Scope.KEYS_ADMIN: Audience.CONTROL,
    Scope.TENANTS_ADMIN: Audience.CONTROL,
}

TENANT_SCOPES: Final = frozenset(s for s in Scope if s is not Scope.TENANTS_ADMIN)
"""Every scope a tenant's key may hold (``tenants:admin`` is the operator's alone)."""


def scopes_for(audience: Audience, held: Iterable[str]) -> frozenset[str]:
    """The scopes of ``held`` that mean something to ``audience``."""
    return frozenset(s for s in held if s in AUDIENCE_OF and AUDIENCE_OF[Scope(s)] is audience)
