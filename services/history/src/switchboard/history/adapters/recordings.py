"""asyncpg access to ``call_recordings``: the worker's upsert and the API's per-tenant read
and deletion mark. Driver errors become ours here."""

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Final

import asyncpg

from switchboard.common.errors import translated
from switchboard.history.adapters.pool import POSTGRES_ERRORS
from switchboard.history.recordings import RecordingRow
from switchboard.history.schemas import RecordingOut

# A lower-ranked status never overwrites a higher one; URL and duration are only filled in;
# deleted_at is never touched here (a late callback does not bring a deleted recording back).
UPSERT_RECORDINGS: Final = """
INSERT INTO call_recordings AS r (recording_id, call_id, tenant_id, provider, account_id,
    status, status_rank, url, duration_s, started_at)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
    $7::smallint[], $8::text[], $9::integer[], $10::timestamptz[])
ON CONFLICT (recording_id) DO UPDATE SET
    status = CASE WHEN excluded.status_rank >= r.status_rank THEN excluded.status
                  ELSE r.status END,
    status_rank = GREATEST(r.status_rank, excluded.status_rank),
    url = COALESCE(excluded.url, r.url),
    duration_s = COALESCE(excluded.duration_s, r.duration_s),
    started_at = LEAST(r.started_at, excluded.started_at),
    updated_at = now()
"""
_COLUMNS: Final = (
    "recording_id, call_id, provider, account_id, status, url, duration_s, started_at, deleted_at"
)


async def upsert_recordings(
    pool: "asyncpg.Pool[asyncpg.Record]", rows: Sequence[RecordingRow]
) -> None:
    # One row per recording id per statement (ON CONFLICT cannot touch a row twice): the
    # highest-ranked status of the batch, its blanks filled from the others.
    best: dict[str, RecordingRow] = {}
    for row in rows:
        seen = best.get(row.recording_id)
        if seen is None:
            best[row.recording_id] = row
            continue
        high, low = (row, seen) if row.status_rank >= seen.status_rank else (seen, row)
        best[row.recording_id] = replace(
            high,
            url=high.url or low.url,
            duration_s=high.duration_s if high.duration_s is not None else low.duration_s,
            started_at=min(high.started_at, low.started_at),
        )
    ordered = [best[k] for k in sorted(best)]
    columns = (
        [r.recording_id for r in ordered],
        [r.call_id for r in ordered],
        [r.tenant_id for r in ordered],
        [r.provider for r in ordered],
        [r.account_id for r in ordered],
        [r.status for r in ordered],
        [r.status_rank for r in ordered],
        [r.url for r in ordered],
        [r.duration_s for r in ordered],
        [r.started_at for r in ordered],
    )
    async with translated("storing recordings", POSTGRES_ERRORS):
        await pool.execute(UPSERT_RECORDINGS, *columns)


class PostgresTenantRecordings:
    """One tenant's recordings: another tenant's are never found."""

    def __init__(self, pool: "asyncpg.Pool[asyncpg.Record]", tenant: str) -> None:
        self._pool, self._tenant = pool, tenant

    async def recording(self, call_id: str, recording_id: str) -> RecordingOut | None:
        async with translated("reading a recording", POSTGRES_ERRORS):
            row = await self._pool.fetchrow(
                f"SELECT {_COLUMNS} FROM call_recordings "  # noqa: S608 - constant columns
                "WHERE tenant_id = $1 AND call_id = $2 AND recording_id = $3",
                self._tenant,
                call_id,
                recording_id,
            )
        return _out(row) if row is not None else None

    async def mark_deleted(self, recording_id: str, at: datetime) -> None:
        async with translated("marking a recording deleted", POSTGRES_ERRORS):
            await self._pool.execute(
                "UPDATE call_recordings SET deleted_at = COALESCE(deleted_at, $3), "
                "updated_at = now() WHERE tenant_id = $1 AND recording_id = $2",
                self._tenant,
                recording_id,
                at,
            )


class PostgresRecordings:
    """Hands out per-tenant recordings over one pool."""

    def __init__(self, pool: "asyncpg.Pool[asyncpg.Record]") -> None:
        self._pool = pool

    def for_tenant(self, tenant: str) -> PostgresTenantRecordings:
        return PostgresTenantRecordings(self._pool, tenant)


async def recordings_of_call(
    conn: "asyncpg.Pool[asyncpg.Record]", tenant: str, call_id: str
) -> list[RecordingOut]:
    """A call's recordings, oldest first (the call detail shows them)."""
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM call_recordings "  # noqa: S608 - constant columns
        "WHERE tenant_id = $1 AND call_id = $2 ORDER BY started_at, recording_id",
        tenant,
        call_id,
    )
    return [_out(r) for r in rows]


def _out(row: "asyncpg.Record") -> RecordingOut:
    values = dict(row)
    if values["deleted_at"] is not None:
        values["url"] = None  # gone at the provider
    return RecordingOut(**values)
