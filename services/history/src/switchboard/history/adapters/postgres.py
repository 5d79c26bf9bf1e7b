"""asyncpg store for call history. Owns the SQL; driver errors become our errors."""

from collections.abc import Sequence
from typing import Final

import asyncpg

from switchboard.common.errors import RetryableError
from switchboard.history.models import CallEventRecord

_INSERT_EVENT: Final = """
INSERT INTO call_events (event_id, tenant_id, call_id, event_type, status, sequence_number,
                         occurred_at, data)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb)
ON CONFLICT (event_id) DO NOTHING
RETURNING event_id
"""

# The row keeps the event of highest precedence; fields the winner lacks keep their value.
_UPSERT_CALL: Final = """
INSERT INTO calls AS c (call_id, tenant_id, provider, account_id, status, status_rank,
                        sequence_number, direction, from_number, to_number, duration_s,
                        answered_by, first_event_at, last_event_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13)
ON CONFLICT (call_id) DO UPDATE SET
    status = EXCLUDED.status,
    status_rank = EXCLUDED.status_rank,
    sequence_number = COALESCE(EXCLUDED.sequence_number, c.sequence_number),
    account_id = COALESCE(EXCLUDED.account_id, c.account_id),
    direction = COALESCE(EXCLUDED.direction, c.direction),
    from_number = COALESCE(EXCLUDED.from_number, c.from_number),
    to_number = COALESCE(EXCLUDED.to_number, c.to_number),
    duration_s = COALESCE(EXCLUDED.duration_s, c.duration_s),
    answered_by = COALESCE(EXCLUDED.answered_by, c.answered_by),
    first_event_at = LEAST(c.first_event_at, EXCLUDED.first_event_at),
    last_event_at = GREATEST(c.last_event_at, EXCLUDED.last_event_at),
    updated_at = now()
WHERE (EXCLUDED.status_rank, COALESCE(EXCLUDED.sequence_number, -1), EXCLUDED.status)
    > (c.status_rank, COALESCE(c.sequence_number, -1), c.status)
"""


class PostgresCallStore:
    """Writes each batch in one transaction: new events first, then the converged call rows."""

    def __init__(self, pool: "asyncpg.Pool[asyncpg.Record]") -> None:
        self._pool = pool

    async def record_call_events(self, records: Sequence[CallEventRecord]) -> int:
        try:
            async with self._pool.acquire() as conn, conn.transaction():
                new = 0
                for r in records:
                    inserted = await conn.fetchval(
                        _INSERT_EVENT,
                        r.event_id,
                        r.tenant_id,
                        r.call.call_id,
                        r.event_type,
                        r.call.status.value,
                        r.call.sequence_number,
                        r.occurred_at,
                        r.call.model_dump_json(),
                    )
                    if inserted is None:
                        continue  # a redelivered event: already applied
                    new += 1
                    c = r.call
                    await conn.execute(
                        _UPSERT_CALL,
                        c.call_id,
                        r.tenant_id,
                        c.provider,
                        c.account_id,
                        c.status.value,
                        r.rank,
                        c.sequence_number,
                        c.direction,
                        c.from_number,
                        c.to_number,
                        c.duration_s,
                        c.answered_by,
                        r.occurred_at,
                    )
                return new
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
            raise RetryableError(f"storing call events failed: {exc!r}") from exc

    async def is_ready(self) -> bool:
        async with self._pool.acquire() as conn:
            return bool(await conn.fetchval("SELECT 1"))


async def create_pool(dsn: str, min_size: int, max_size: int) -> "asyncpg.Pool[asyncpg.Record]":
    """A connection pool; JSON codecs are not needed (we pass JSON text)."""
    return await asyncpg.create_pool(dsn, min_size=min_size, max_size=max_size)
