"""asyncpg store of tenants, accounts and channels. Owns the SQL; driver errors become ours.

Every change writes its outbox row (the entity's key) in the same transaction. Account
secrets are stored sealed under the at-rest key ring, bound to the account's key (see
:func:`~switchboard.control.models.at_rest_context`); they are opened only when an account
is loaded (to compare, to change it, or for the relay to seal it again for distribution).
"""

from collections.abc import Callable
from typing import Any, Final

import asyncpg

from switchboard.common.config import (
    AccountBase,
    Channel,
    ChannelKind,
    ModelPrice,
    Provider,
    Tenant,
)
from switchboard.common.crypto import Cipher
from switchboard.control.adapters.rows import (
    account_of,
    channel_of,
    insert_outbox,
    model_of,
    sealed_state,
    tenant_of,
    translated,
)
from switchboard.control.errors import ChannelUnavailable, Conflict, InvalidRequest
from switchboard.control.models import check_bind, check_unbind, same

# --- the store ---------------------------------------------------------------------------------

_UPSERT_TENANT: Final = """
INSERT INTO tenants (id, name, status, limits) VALUES ($1, $2, $3, $4)
ON CONFLICT (id) DO UPDATE SET
    name = EXCLUDED.name, status = EXCLUDED.status, limits = EXCLUDED.limits,
    version = tenants.version + 1, updated_at = now()
WHERE (tenants.name, tenants.status, tenants.limits)
      IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.status, EXCLUDED.limits)
RETURNING *
"""

_UPSERT_ACCOUNT: Final = """
INSERT INTO accounts (provider, id, tenants, state, key_ids) VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (provider, id) DO UPDATE SET
    tenants = EXCLUDED.tenants, state = EXCLUDED.state, key_ids = EXCLUDED.key_ids,
    version = accounts.version + 1, updated_at = now()
RETURNING *
"""

# A tenant's bind never takes a channel another tenant got in the meantime: the update only
# happens when the row is the actor's (or the operator binds); otherwise no row comes back.
_UPSERT_CHANNEL: Final = """
INSERT INTO channels (kind, id, tenant, provider, account_id, waba_id, number)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (kind, id) DO UPDATE SET
    tenant = EXCLUDED.tenant, provider = EXCLUDED.provider, account_id = EXCLUDED.account_id,
    waba_id = EXCLUDED.waba_id, number = EXCLUDED.number,
    version = channels.version + 1, updated_at = now()
WHERE $8::boolean OR channels.tenant = EXCLUDED.tenant
RETURNING *
"""


_UPSERT_MODEL: Final = """
INSERT INTO models (id, input_per_1k_usd, output_per_1k_usd) VALUES ($1, $2, $3)
ON CONFLICT (id) DO UPDATE SET
    input_per_1k_usd = EXCLUDED.input_per_1k_usd, output_per_1k_usd = EXCLUDED.output_per_1k_usd,
    version = models.version + 1, updated_at = now()
WHERE (models.input_per_1k_usd, models.output_per_1k_usd)
      IS DISTINCT FROM (EXCLUDED.input_per_1k_usd, EXCLUDED.output_per_1k_usd)
RETURNING *
"""


class PostgresEntities:
    """Tenants, accounts and channels in PostgreSQL (``EntityStore``)."""

    def __init__(self, pool: "asyncpg.Pool[Any]", cipher: Cipher) -> None:
        self._pool = pool
        self._cipher = cipher

    # tenants

    async def put_tenant(self, tenant: Tenant) -> tuple[Tenant, bool]:
        limits = tenant.limits.model_dump(mode="json")
        async with translated("put tenant"), self._pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(_UPSERT_TENANT, tenant.id, tenant.name, tenant.status, limits)
            if row is None:
                current = await conn.fetchrow("SELECT * FROM tenants WHERE id = $1", tenant.id)
                return tenant_of(current), False
            await insert_outbox(conn, tenant.key)
            return tenant_of(row), True

    async def get_tenant(self, tenant_id: str) -> Tenant | None:
        async with translated("get tenant"):
            row = await self._pool.fetchrow("SELECT * FROM tenants WHERE id = $1", tenant_id)
        return tenant_of(row) if row else None

    async def list_tenants(self) -> list[Tenant]:
        async with translated("list tenants"):
            rows = await self._pool.fetch("SELECT * FROM tenants ORDER BY id")
        return [tenant_of(r) for r in rows]

    async def delete_tenant(self, tenant_id: str) -> bool:
        async with translated("delete tenant"), self._pool.acquire() as conn, conn.transaction():
            holds = await conn.fetchval(
                "SELECT EXISTS (SELECT 1 FROM accounts WHERE $1 = ANY (tenants))"
                " OR EXISTS (SELECT 1 FROM channels WHERE tenant = $1)",
                tenant_id,
            )
            if holds:
                raise Conflict(f"tenant {tenant_id} still holds accounts or channels")
            deleted = await conn.fetchval(
                "DELETE FROM tenants WHERE id = $1 RETURNING id", tenant_id
            )
            if deleted is None:
                return False
            await insert_outbox(conn, f"tenant/{tenant_id}")
            return True

    # accounts

    async def _write_account(
        self,
        conn: "asyncpg.Connection[Any]",
        current: AccountBase | None,
        account: AccountBase,
    ) -> tuple[AccountBase, bool]:
        if current is not None and same(current, account):
            return current, False
        known = await conn.fetch("SELECT id FROM tenants WHERE id = ANY ($1)", account.tenants)
        missing = sorted(set(account.tenants) - {r["id"] for r in known})
        if missing:
            raise InvalidRequest(
                f"unknown tenant {', '.join(missing)}",
                [{"key": "tenants", "message": f"unknown tenant {', '.join(missing)}"}],
            )
        if current is not None:
            dropped = sorted(set(current.tenants) - set(account.tenants))
            stranded = await conn.fetchval(
                "SELECT string_agg(DISTINCT tenant, ', ') FROM channels"
                " WHERE provider = $1 AND account_id = $2 AND tenant = ANY ($3)",
                account.provider,
                account.id,
                dropped,
            )
            if stranded:
                raise Conflict(
                    f"tenant {stranded} still has channels on {account.key}: move or unbind them"
                )
        state, kids = sealed_state(account, self._cipher)
        row = await conn.fetchrow(
            _UPSERT_ACCOUNT, account.provider, account.id, list(account.tenants), state, kids
        )
        await insert_outbox(conn, account.key)
        return account_of(row, self._cipher), True

    async def _locked_account(
        self, conn: "asyncpg.Connection[Any]", provider: str, account_id: str, lock: str
    ) -> AccountBase | None:
        row = await conn.fetchrow(
            f"SELECT * FROM accounts WHERE provider = $1 AND id = $2 FOR {lock}",  # noqa: S608
            provider,
            account_id,
        )
        return account_of(row, self._cipher) if row else None

    async def put_account(self, account: AccountBase) -> tuple[AccountBase, bool]:
        async with translated("put account"), self._pool.acquire() as conn, conn.transaction():
            current = await self._locked_account(conn, account.provider, account.id, "UPDATE")
            return await self._write_account(conn, current, account)

    async def change_account(
        self,
        provider: Provider,
        account_id: str,
        change: Callable[[AccountBase | None], AccountBase],
    ) -> AccountBase:
        async with translated("change account"), self._pool.acquire() as conn, conn.transaction():
            current = await self._locked_account(conn, provider, account_id, "UPDATE")
            stored, _ = await self._write_account(conn, current, change(current))
            return stored

    async def get_account(self, provider: Provider, account_id: str) -> AccountBase | None:
        async with translated("get account"):
            row = await self._pool.fetchrow(
                "SELECT * FROM accounts WHERE provider = $1 AND id = $2", provider, account_id
            )
        return account_of(row, self._cipher) if row else None

    async def list_accounts(self, tenant: str | None) -> list[AccountBase]:
        async with translated("list accounts"):
            rows = await self._pool.fetch(
                "SELECT * FROM accounts WHERE $1::text IS NULL OR $1 = ANY (tenants)"
                " ORDER BY provider, id",
                tenant,
            )
        return [account_of(r, self._cipher) for r in rows]

    async def delete_account(self, provider: Provider, account_id: str) -> bool:
        async with translated("delete account"), self._pool.acquire() as conn, conn.transaction():
            bound = await conn.fetchval(
                "SELECT count(*) FROM channels WHERE provider = $1 AND account_id = $2",
                provider,
                account_id,
            )
            if bound:
                raise Conflict(f"{bound} channel(s) are bound to this account: unbind them first")
            deleted = await conn.fetchval(
                "DELETE FROM accounts WHERE provider = $1 AND id = $2 RETURNING id",
                provider,
                account_id,
            )
            if deleted is None:
                return False
            await insert_outbox(conn, f"account/{provider}/{account_id}")
            return True

    # channels

    async def bind_channel(self, actor: str | None, channel: Channel) -> tuple[Channel, bool]:
        async with translated("bind channel"), self._pool.acquire() as conn, conn.transaction():
            account = await self._locked_account(
                conn, channel.provider, channel.account_id, "SHARE"
            )
            row = await conn.fetchrow(
                "SELECT * FROM channels WHERE kind = $1 AND id = $2 FOR UPDATE",
                channel.kind,
                channel.id,
            )
            existing = channel_of(row) if row else None
            check_bind(actor, channel, account, existing)
            if existing is not None and same(existing, channel):
                return existing, False
            stored = await conn.fetchrow(
                _UPSERT_CHANNEL,
                channel.kind,
                channel.id,
                channel.tenant,
                channel.provider,
                channel.account_id,
                channel.waba_id,
                channel.number,
                actor is None,
            )
            if stored is None:  # another tenant bound it since we looked
                raise ChannelUnavailable
            await insert_outbox(conn, channel.key)
            return channel_of(stored), True

    async def unbind_channel(self, actor: str | None, kind: ChannelKind, channel_id: str) -> None:
        async with translated("unbind channel"), self._pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                "SELECT * FROM channels WHERE kind = $1 AND id = $2 FOR UPDATE", kind, channel_id
            )
            channel = check_unbind(actor, channel_of(row) if row else None)
            await conn.execute("DELETE FROM channels WHERE kind = $1 AND id = $2", kind, channel_id)
            await insert_outbox(conn, channel.key)

    async def list_channels(self, tenant: str | None) -> list[Channel]:
        async with translated("list channels"):
            rows = await self._pool.fetch(
                "SELECT * FROM channels WHERE $1::text IS NULL OR tenant = $1 ORDER BY kind, id",
                tenant,
            )
        return [channel_of(r) for r in rows]

    # models

    async def put_model(self, model: ModelPrice) -> tuple[ModelPrice, bool]:
        async with translated("put model"), self._pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                _UPSERT_MODEL, model.id, model.input_per_1k_usd, model.output_per_1k_usd
            )
            if row is None:
                current = await conn.fetchrow("SELECT * FROM models WHERE id = $1", model.id)
                return model_of(current), False
            await insert_outbox(conn, model.key)
            return model_of(row), True

    async def list_models(self) -> list[ModelPrice]:
        async with translated("list models"):
            rows = await self._pool.fetch("SELECT * FROM models ORDER BY id")
        return [model_of(r) for r in rows]

    async def delete_model(self, model_id: str) -> bool:
        async with translated("delete model"), self._pool.acquire() as conn, conn.transaction():
            deleted = await conn.fetchval("DELETE FROM models WHERE id = $1 RETURNING id", model_id)
            if deleted is None:
                return False
            await insert_outbox(conn, f"model/{model_id}")
            return True

    async def is_ready(self) -> bool:
        async with translated("ping"):
            return bool(await self._pool.fetchval("SELECT 1"))
