"""What the use cases need from storage. Every write is one transaction that also writes the
outbox row of each entity it changes (the relay publishes them)."""

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Protocol

from switchboard.common.config import (
    AccountBase,
    Channel,
    ChannelKind,
    ConfigEntity,
    ModelPrice,
    Provider,
    Tenant,
)
from switchboard.control.models import ApiKey, StoredSigningKey

Published = tuple[str, ConfigEntity | None]
"""A key and its current entity (``None``: deleted, publish a tombstone)."""


class EntityStore(Protocol):
    """Tenants, accounts and channels."""

    async def put_tenant(self, tenant: Tenant) -> tuple[Tenant, bool]:
        """Create or replace; (stored, changed). Unchanged writes nothing."""
        ...

    async def get_tenant(self, tenant_id: str) -> Tenant | None: ...

    async def list_tenants(self) -> list[Tenant]: ...

    async def delete_tenant(self, tenant_id: str) -> bool:
        """Conflict while it still holds accounts or channels."""
        ...

    async def put_account(self, account: AccountBase) -> tuple[AccountBase, bool]:
        """Create or replace (operator); InvalidRequest for unknown tenants, Conflict when a
        tenant that still has channels on it would stop holding it."""
        ...

    async def change_account(
        self,
        provider: Provider,
        account_id: str,
        change: Callable[[AccountBase | None], AccountBase],
    ) -> AccountBase:
        """Apply ``change`` to the stored account under a row lock (tenant rotation)."""
        ...

    async def get_account(self, provider: Provider, account_id: str) -> AccountBase | None: ...

    async def list_accounts(self, tenant: str | None) -> list[AccountBase]:
        """The accounts ``tenant`` holds (``None``: all)."""
        ...

    async def delete_account(self, provider: Provider, account_id: str) -> bool:
        """Conflict while channels are bound to it."""
        ...

    async def bind_channel(self, actor: str | None, channel: Channel) -> tuple[Channel, bool]:
        """Bind or move under :func:`~switchboard.control.models.check_bind`, atomically."""
        ...

    async def unbind_channel(self, actor: str | None, kind: ChannelKind, channel_id: str) -> None:
        """NotFound unless ``actor`` holds it (``None``: the operator, any channel)."""
        ...

    async def list_channels(self, tenant: str | None) -> list[Channel]: ...

    async def put_model(self, model: ModelPrice) -> tuple[ModelPrice, bool]:
        """Offer a model or change its prices; (stored, changed)."""
        ...

    async def list_models(self) -> list[ModelPrice]: ...

    async def delete_model(self, model_id: str) -> bool:
        """Withdraw a model (a tombstone); False when it was not offered."""
        ...

    async def is_ready(self) -> bool: ...


class CredentialStore(Protocol):
    """API keys and token signing keys."""

    async def add_api_key(self, key: ApiKey) -> None: ...

    async def get_api_key(self, key_id: str) -> ApiKey | None: ...

    async def list_api_keys(self, tenant: str | None) -> list[ApiKey]:
        """``tenant``'s keys (``None``: the operator keys)."""
        ...

    async def revoke_api_key(self, key_id: str, tenant: str | None, now: datetime) -> bool:
        """Revoke ``tenant``'s key (``None``: any key); False when there is no such key."""
        ...

    async def active_signing_key(self) -> StoredSigningKey | None: ...

    async def signing_keys(self) -> list[StoredSigningKey]: ...

    async def rotate_signing_key(self, new: StoredSigningKey, retire_not_after: datetime) -> None:
        """Retire the active key (published until ``retire_not_after``), make ``new`` active."""
        ...

    async def withdraw_signing_keys(self, now: datetime) -> list[str]:
        """Delete retired keys past their ``not_after`` (tombstones); their kids."""
        ...


class OutboxStore(Protocol):
    """Distribution and maintenance."""

    async def relay(
        self, publish: Callable[[Sequence[Published]], Awaitable[None]], limit: int
    ) -> int:
        """Publish pending outbox keys with their current state; how many rows were sent."""
        ...

    async def republish(self) -> int:
        """An outbox row for every entity (after a distribution key rotation)."""
        ...

    async def reencrypt(self) -> int:
        """Re-seal every secret at rest under the current key; how many rows changed."""
        ...

    async def purge_outbox(self, before: datetime) -> int: ...

    async def pending(self) -> int:
        """Outbox rows not sent yet."""
        ...
