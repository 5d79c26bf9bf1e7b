"""asyncpg store of API keys (hashes only) and token signing keys (private halves sealed at
rest; the public halves are published on ``control.config`` as ``signing-key/<kid>``)."""

from datetime import datetime
from typing import Any

import asyncpg

from switchboard.common.crypto import Sealed
from switchboard.control.adapters.rows import insert_outbox, translated
from switchboard.control.models import ApiKey, StoredSigningKey


def api_key_of(row: asyncpg.Record) -> ApiKey:
    return ApiKey(
        id=row["id"],
        tenant=row["tenant"],
        name=row["name"],
        scopes=frozenset(row["scopes"]),
        secret_hash=bytes(row["secret_hash"]),
        created_at=row["created_at"],
        revoked_at=row["revoked_at"],
    )


def stored_signing_key_of(row: asyncpg.Record) -> StoredSigningKey:
    return StoredSigningKey(
        kid=row["kid"],
        private_key=Sealed.from_json(row["private_key"]),
        public_key=row["public_key"],
        status=row["status"],
        created_at=row["created_at"],
        not_after=row["not_after"],
    )


class PostgresCredentials:
    """API keys and signing keys in PostgreSQL (``CredentialStore``)."""

    def __init__(self, pool: "asyncpg.Pool[Any]") -> None:
        self._pool = pool

    async def add_api_key(self, key: ApiKey) -> None:
        async with translated("add api key"):
            await self._pool.execute(
                "INSERT INTO api_keys (id, tenant, name, scopes, secret_hash, created_at)"
                " VALUES ($1, $2, $3, $4, $5, $6)",
                key.id,
                key.tenant,
                key.name,
                sorted(key.scopes),
                key.secret_hash,
                key.created_at,
            )

    async def get_api_key(self, key_id: str) -> ApiKey | None:
        async with translated("get api key"):
            row = await self._pool.fetchrow("SELECT * FROM api_keys WHERE id = $1", key_id)
        return api_key_of(row) if row else None

    async def list_api_keys(self, tenant: str | None) -> list[ApiKey]:
        async with translated("list api keys"):
            rows = await self._pool.fetch(
                "SELECT * FROM api_keys WHERE tenant IS NOT DISTINCT FROM $1 ORDER BY created_at",
                tenant,
            )
        return [api_key_of(r) for r in rows]

    async def revoke_api_key(self, key_id: str, tenant: str | None, now: datetime) -> bool:
        async with translated("revoke api key"):
            revoked = await self._pool.fetchval(
                "UPDATE api_keys SET revoked_at = coalesce(revoked_at, $3)"
                " WHERE id = $1 AND ($2::text IS NULL OR tenant = $2) RETURNING id",
                key_id,
                tenant,
                now,
            )
        return revoked is not None

    async def active_signing_key(self) -> StoredSigningKey | None:
        async with translated("active signing key"):
            row = await self._pool.fetchrow("SELECT * FROM signing_keys WHERE status = 'active'")
        return stored_signing_key_of(row) if row else None

    async def signing_keys(self) -> list[StoredSigningKey]:
        async with translated("signing keys"):
            rows = await self._pool.fetch("SELECT * FROM signing_keys ORDER BY created_at")
        return [stored_signing_key_of(r) for r in rows]

    async def rotate_signing_key(self, new: StoredSigningKey, retire_not_after: datetime) -> None:
        async with translated("rotate"), self._pool.acquire() as conn, conn.transaction():
            retired = await conn.fetch(
                "UPDATE signing_keys SET status = 'retired', not_after = $1"
                " WHERE status = 'active' RETURNING kid",
                retire_not_after,
            )
            await conn.execute(
                "INSERT INTO signing_keys (kid, private_key, public_key, status, created_at)"
                " VALUES ($1, $2, $3, 'active', $4)",
                new.kid,
                new.private_key.to_json(),
                new.public_key,
                new.created_at,
            )
            await insert_outbox(
                conn, *(f"signing-key/{r['kid']}" for r in retired), f"signing-key/{new.kid}"
            )

    async def withdraw_signing_keys(self, now: datetime) -> list[str]:
        async with translated("withdraw"), self._pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                "DELETE FROM signing_keys WHERE status = 'retired' AND not_after < $1"
                " RETURNING kid",
                now,
            )
            kids = [r["kid"] for r in rows]
            if kids:
                await insert_outbox(conn, *(f"signing-key/{kid}" for kid in kids))
        return kids
