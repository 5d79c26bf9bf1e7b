"""Control-plane fixtures: in-memory stores with the adapters' rules, and a ControlPlane over
them (unit tests; the real stores are tested in integration/)."""

import base64
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from switchboard.common.config import (
    AccountBase,
    Channel,
    ChannelKind,
    ModelPrice,
    Provider,
    Tenant,
)
from switchboard.common.crypto import Cipher
from switchboard.control.errors import Conflict, InvalidRequest
from switchboard.control.handlers import ControlPlane
from switchboard.control.models import ApiKey, StoredSigningKey, check_bind, check_unbind, same
from switchboard.control.settings import TokenSettings

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


class InMemoryEntities:
    """``EntityStore`` over dicts; ``outbox`` records the keys a real store would publish."""

    def __init__(self) -> None:
        self.tenants: dict[str, Tenant] = {}
        self.accounts: dict[str, AccountBase] = {}
        self.channels: dict[str, Channel] = {}
        self.models: dict[str, ModelPrice] = {}
        self.outbox: list[str] = []

    async def put_model(self, model: ModelPrice) -> tuple[ModelPrice, bool]:
        current = self.models.get(model.key)
        if same(current, model):
            assert current is not None
            return current, False
        self.models[model.key] = model
        self.outbox.append(model.key)
        return model, True

    async def list_models(self) -> list[ModelPrice]:
        return sorted(self.models.values(), key=lambda m: m.id)

    async def delete_model(self, model_id: str) -> bool:
        if self.models.pop(f"model/{model_id}", None) is None:
            return False
        self.outbox.append(f"model/{model_id}")
        return True

    async def put_tenant(self, tenant: Tenant) -> tuple[Tenant, bool]:
        current = self.tenants.get(tenant.key)
        if same(current, tenant):
            assert current is not None
            return current, False
        self.tenants[tenant.key] = tenant
        self.outbox.append(tenant.key)
        return tenant, True

    async def get_tenant(self, tenant_id: str) -> Tenant | None:
        return self.tenants.get(f"tenant/{tenant_id}")

    async def list_tenants(self) -> list[Tenant]:
        return sorted(self.tenants.values(), key=lambda t: t.id)

    async def delete_tenant(self, tenant_id: str) -> bool:
        if any(tenant_id in a.tenants for a in self.accounts.values()):
            raise Conflict("holds accounts")
        return self.tenants.pop(f"tenant/{tenant_id}", None) is not None

    async def put_account(self, account: AccountBase) -> tuple[AccountBase, bool]:
        current = self.accounts.get(account.key)
        if same(current, account):
            assert current is not None
            return current, False
        if any(f"tenant/{t}" not in self.tenants for t in account.tenants):
            raise InvalidRequest("unknown tenant")
        self.accounts[account.key] = account
        self.outbox.append(account.key)
        return account, True

    async def change_account(
        self,
        provider: Provider,
        account_id: str,
        change: Callable[[AccountBase | None], AccountBase],
    ) -> AccountBase:
        stored, _ = await self.put_account(
            change(self.accounts.get(f"account/{provider}/{account_id}"))
        )
        return stored

    async def get_account(self, provider: Provider, account_id: str) -> AccountBase | None:
        return self.accounts.get(f"account/{provider}/{account_id}")

    async def list_accounts(self, tenant: str | None) -> list[AccountBase]:
        return [a for a in self.accounts.values() if tenant is None or tenant in a.tenants]

    async def delete_account(self, provider: Provider, account_id: str) -> bool:
        return self.accounts.pop(f"account/{provider}/{account_id}", None) is not None

    async def bind_channel(self, actor: str | None, channel: Channel) -> tuple[Channel, bool]:
        existing = self.channels.get(channel.key)
        check_bind(actor, channel, self.accounts.get(channel.account_key), existing)
        if same(existing, channel):
            assert existing is not None
            return existing, False
        self.channels[channel.key] = channel
        self.outbox.append(channel.key)
        return channel, True

    async def unbind_channel(self, actor: str | None, kind: ChannelKind, channel_id: str) -> None:
        channel = check_unbind(actor, self.channels.get(f"channel/{kind}/{channel_id}"))
        del self.channels[channel.key]
        self.outbox.append(channel.key)

    async def list_channels(self, tenant: str | None) -> list[Channel]:
        return [c for c in self.channels.values() if tenant is None or c.tenant == tenant]

    async def is_ready(self) -> bool:
        return True


class InMemoryCredentials:
    """``CredentialStore`` over dicts."""

    def __init__(self) -> None:
        self.keys: dict[str, ApiKey] = {}
        self.signing: dict[str, StoredSigningKey] = {}

    async def add_api_key(self, key: ApiKey) -> None:
        self.keys[key.id] = key

    async def get_api_key(self, key_id: str) -> ApiKey | None:
        return self.keys.get(key_id)

    async def list_api_keys(self, tenant: str | None) -> list[ApiKey]:
        return [k for k in self.keys.values() if k.tenant == tenant]

    async def revoke_api_key(self, key_id: str, tenant: str | None, now: datetime) -> bool:
        key = self.keys.get(key_id)
        if key is None or (tenant is not None and key.tenant != tenant):
            return False
        from dataclasses import replace

        self.keys[key_id] = replace(key, revoked_at=key.revoked_at or now)
        return True

    async def active_signing_key(self) -> StoredSigningKey | None:
        return next((k for k in self.signing.values() if k.status == "active"), None)

    async def signing_keys(self) -> list[StoredSigningKey]:
        return list(self.signing.values())

    async def rotate_signing_key(self, new: StoredSigningKey, retire_not_after: datetime) -> None:
        from dataclasses import replace

        for kid, key in list(self.signing.items()):
            if key.status == "active":
                self.signing[kid] = replace(key, status="retired", not_after=retire_not_after)
        self.signing[new.kid] = new

    async def withdraw_signing_keys(self, now: datetime) -> list[str]:
        gone = [
            k.kid
            for k in self.signing.values()
            if k.status == "retired" and k.not_after and k.not_after < now
        ]
        for kid in gone:
            del self.signing[kid]
        return gone


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def plane(clock: Clock) -> ControlPlane:
    cipher = Cipher({"r1": base64.b64encode(b"r" * 32).decode()}, "r1")
    return ControlPlane(
        InMemoryEntities(), InMemoryCredentials(), cipher, TokenSettings(), clock=clock
    )
