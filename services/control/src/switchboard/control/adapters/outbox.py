"""The outbox and the maintenance that rewrites stored state: relay, republish, at-rest key
rotation.

The outbox holds keys, not values: the relay publishes each pending key's *current* state
(read in the relay's own snapshot), or a tombstone when the entity is gone. A later change
writes a later outbox row, so the topic always ends with the latest state, whatever order
concurrent changes committed in. One relay runs at a time (an advisory lock), so two API
replicas never publish one key's states out of order.
"""

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any, Final

import asyncpg

from switchboard.common.crypto import Cipher, Sealed
from switchboard.control.adapters.rows import (
    account_of,
    insert_outbox,
    load,
    sealed_state,
    translated,
)
from switchboard.control.models import signing_context
from switchboard.control.repository import Published

RELAY_LOCK: Final = 0x5B_C0_47_01
"""pg advisory lock id held by the publishing relay."""

_ALL_KEYS: Final = """
SELECT 'tenant/' || id FROM tenants
UNION ALL SELECT 'account/' || provider || '/' || id FROM accounts
UNION ALL SELECT 'channel/' || kind || '/' || id FROM channels
UNION ALL SELECT 'signing-key/' || kid FROM signing_keys
UNION ALL SELECT 'model/' || id FROM models
"""


class PostgresOutbox:
    """Publishing and at-rest maintenance (``OutboxStore``)."""

    def __init__(self, pool: "asyncpg.Pool[Any]", cipher: Cipher) -> None:
        self._pool = pool
        self._cipher = cipher

    async def relay(
        self, publish: Callable[[Sequence[Published]], Awaitable[None]], limit: int
    ) -> int:
        """Publish up to ``limit`` pending rows; a failed publish leaves them pending."""
        async with (
            translated("relay"),
            self._pool.acquire() as conn,
            conn.transaction(isolation="repeatable_read"),
        ):
            if not await conn.fetchval("SELECT pg_try_advisory_xact_lock($1)", RELAY_LOCK):
                return 0  # another replica is relaying
            rows = await conn.fetch(
                "SELECT id, key FROM outbox WHERE sent_at IS NULL ORDER BY id LIMIT $1", limit
            )
            if not rows:
                return 0
            keys = list(dict.fromkeys(r["key"] for r in rows))
            await publish([(key, await load(conn, key, self._cipher)) for key in keys])
            await conn.execute(
                "UPDATE outbox SET sent_at = now() WHERE id = ANY ($1::bigint[])",
                [r["id"] for r in rows],
            )
            return len(rows)

    async def republish(self) -> int:
        async with translated("republish"), self._pool.acquire() as conn, conn.transaction():
            keys = [r[0] for r in await conn.fetch(_ALL_KEYS)]
            await insert_outbox(conn, *keys)
            return len(keys)

    async def reencrypt(self) -> int:
        """Re-seal, under the ring's current key, every account and signing key that uses
        another key."""
        current = self._cipher.current_key_id
        changed = 0
        async with translated("reencrypt"), self._pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                "SELECT * FROM accounts WHERE NOT (key_ids <@ ARRAY[$1]::text[]) FOR UPDATE",
                current,
            )
            for row in rows:
                state, kids = sealed_state(account_of(row, self._cipher), self._cipher)
                await conn.execute(
                    "UPDATE accounts SET state = $3, key_ids = $4 WHERE provider = $1 AND id = $2",
                    row["provider"],
                    row["id"],
                    state,
                    kids,
                )
                changed += 1
            keys = await conn.fetch(
                "SELECT kid, private_key FROM signing_keys"
                " WHERE private_key ->> 'kid' <> $1 FOR UPDATE",
                current,
            )
            for key in keys:
                context = signing_context(key["kid"])
                sealed = self._cipher.rotate(Sealed.from_json(key["private_key"]), context)
                await conn.execute(
                    "UPDATE signing_keys SET private_key = $2 WHERE kid = $1",
                    key["kid"],
                    sealed.to_json(),
                )
                changed += 1
        return changed

    async def purge_outbox(self, before: datetime) -> int:
        async with translated("purge outbox"):
            deleted = await self._pool.fetch(
                "DELETE FROM outbox WHERE sent_at < $1 RETURNING id", before
            )
        return len(deleted)

    async def pending(self) -> int:
        async with translated("pending"):
            return int(
                await self._pool.fetchval("SELECT count(*) FROM outbox WHERE sent_at IS NULL")
            )
