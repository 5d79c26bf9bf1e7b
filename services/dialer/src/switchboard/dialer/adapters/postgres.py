"""asyncpg store, API side: campaigns, commands, contact loading, progress, do-not-call.
Owns the SQL; driver errors become ours (``POSTGRES_ERRORS``)."""

import contextlib
import json
from collections.abc import AsyncIterator, Sequence
from datetime import datetime, timedelta
from typing import Any, Final
from uuid import UUID

import asyncpg

from switchboard.common.errors import ErrorTable, translated
from switchboard.common.events import DialAction
from switchboard.dialer.errors import (
    CampaignNotFound,
    InvalidTransition,
    StoreRejected,
    StoreUnavailable,
)
from switchboard.dialer.models import TRANSITIONS, CampaignConfig, CampaignStatus
from switchboard.dialer.repository import Campaign, OutboxMessage, Progress, Rejected

RATE_WINDOW_S: Final = 10
CAMPAIGN_COLUMNS: Final = (
    "id, tenant_id, name, status, account_sid, cps, max_concurrent, config, created_at, updated_at"
)
_INSERT_OUTBOX: Final = (
    "INSERT INTO outbox (topic, key, headers, value) VALUES ($1, $2, $3::jsonb, $4)"
)


POSTGRES_ERRORS: Final[ErrorTable] = (
    # data the server refuses (a bad value, a constraint): the same data fails every time
    ((asyncpg.DataError, asyncpg.IntegrityConstraintViolationError), StoreRejected),
    # everything else asyncpg raises may pass on a retry: a connection refused or lost, a
    # server shutting down or starting up (57P0x, not connection errors to asyncpg), no free
    # connection slot (53300), a deadlock, the client's state after a lost connection
    (
        (asyncpg.PostgresError, asyncpg.InterfaceError, asyncpg.InternalClientError, OSError),
        StoreUnavailable,
    ),
)
"""asyncpg errors → ours (:func:`~switchboard.common.errors.translated`)."""


def campaign_of(row: asyncpg.Record) -> Campaign:
    return Campaign(
        id=row["id"],
        tenant_id=row["tenant_id"],
        name=row["name"],
        status=row["status"],
        account_sid=row["account_sid"],
        cps=row["cps"],
        max_concurrent=row["max_concurrent"],
        config=CampaignConfig.model_validate_json(row["config"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


async def insert_outbox(conn: "asyncpg.Connection[Any]", message: OutboxMessage) -> None:
    await conn.execute(
        _INSERT_OUTBOX, message.topic, message.key, json.dumps(message.headers), message.value
    )


class PostgresContactLoader:
    """One upload: rows COPY'd into a staging table, merged into ``contacts`` at the end."""

    def __init__(self, conn: "asyncpg.Connection[Any]", campaign: Campaign, limit: int) -> None:
        self._conn = conn
        self._campaign = campaign
        self._limit = limit
        self.staged = 0

    async def add(self, rows: Sequence[tuple[int, str, str, str | None]]) -> None:
        """Stage ``(line, e164, zone key, vars json)`` rows."""
        if rows:
            with translated("staging contacts", POSTGRES_ERRORS):
                await self._conn.copy_records_to_table(
                    "contact_staging", records=rows, columns=["line", "phone", "zone_key", "vars"]
                )
            self.staged += len(rows)

    async def finish(self) -> tuple[int, list[Rejected], dict[str, int]]:
        """Merge: (accepted, up to ``limit`` rejected (line, reason, phone), counts by reason)."""
        cid, tenant = self._campaign.id, self._campaign.tenant_id
        conn = self._conn
        with translated("loading contacts", POSTGRES_ERRORS):
            dnc = await conn.fetch(
                "SELECT s.line, s.phone FROM contact_staging s "
                "JOIN dnc d ON d.tenant_id = $1 AND d.phone = s.phone ORDER BY s.line LIMIT $2",
                tenant,
                self._limit,
            )
            dnc_count = await conn.fetchval(
                "SELECT count(*) FROM contact_staging s "
                "JOIN dnc d ON d.tenant_id = $1 AND d.phone = s.phone",
                tenant,
            )
            existing = await conn.fetch(
                "SELECT s.line, s.phone FROM contact_staging s "
                "JOIN contacts c ON c.campaign_id = $1 AND c.phone = s.phone "
                "ORDER BY s.line LIMIT $2",
                cid,
                self._limit,
            )
            status = await conn.execute(
                "INSERT INTO contacts (campaign_id, phone, zone_key, vars) "
                "SELECT $1, s.phone, s.zone_key, s.vars FROM contact_staging s "
                "WHERE NOT EXISTS (SELECT 1 FROM dnc d WHERE d.tenant_id = $2 "
                "AND d.phone = s.phone) ON CONFLICT (campaign_id, phone) DO NOTHING",
                cid,
                tenant,
            )
            await conn.execute(
                "INSERT INTO campaign_zones (campaign_id, zone_key) "
                "SELECT DISTINCT $1::uuid, zone_key FROM contact_staging "
                "ON CONFLICT DO NOTHING",
                cid,
            )
        accepted = int(status.split()[-1])
        duplicates = self.staged - dnc_count - accepted
        rejected = [(r["line"], "do_not_call", r["phone"]) for r in dnc]
        rejected += [(r["line"], "duplicate", r["phone"]) for r in existing]
        counts = {"do_not_call": dnc_count, "duplicate": duplicates}
        return accepted, rejected, {k: v for k, v in counts.items() if v}


class PostgresCampaignStore:
    """The :class:`~switchboard.dialer.repository.CampaignStore` (and the worker's
    :class:`~switchboard.dialer.repository.DoNotCallList`): campaigns, contacts, commands,
    progress and the do-not-call list."""

    def __init__(self, pool: "asyncpg.Pool[asyncpg.Record]") -> None:
        self._pool = pool

    async def create_campaign(self, campaign: Campaign) -> Campaign:
        with translated("create campaign", POSTGRES_ERRORS):
            row = await self._pool.fetchrow(
                "INSERT INTO campaigns (id, tenant_id, name, status, account_sid, cps, "  # noqa: S608
                "max_concurrent, config) VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb) "
                f"RETURNING {CAMPAIGN_COLUMNS}",
                campaign.id,
                campaign.tenant_id,
                campaign.name,
                campaign.status,
                campaign.account_sid,
                campaign.cps,
                campaign.max_concurrent,
                campaign.config.model_dump_json(),
            )
        assert row is not None
        return campaign_of(row)

    async def get_campaign(self, tenant: str, campaign_id: UUID) -> Campaign:
        with translated("get campaign", POSTGRES_ERRORS):
            row = await self._pool.fetchrow(
                f"SELECT {CAMPAIGN_COLUMNS} FROM campaigns WHERE id = $1 AND tenant_id = $2",  # noqa: S608
                campaign_id,
                tenant,
            )
        if row is None:
            raise CampaignNotFound(f"no campaign {campaign_id} for this tenant")
        return campaign_of(row)

    async def list_campaigns(self, tenant: str, limit: int = 100) -> list[Campaign]:
        with translated("list campaigns", POSTGRES_ERRORS):
            rows = await self._pool.fetch(
                f"SELECT {CAMPAIGN_COLUMNS} FROM campaigns WHERE tenant_id = $1 "  # noqa: S608
                "ORDER BY created_at DESC LIMIT $2",
                tenant,
                limit,
            )
        return [campaign_of(r) for r in rows]

    async def apply_command(
        self, tenant: str, campaign_id: UUID, action: DialAction, message: OutboxMessage
    ) -> Campaign:
        """Change the status and write the command to the outbox, in one transaction."""
        allowed, target = TRANSITIONS[action]
        with translated("campaign command", POSTGRES_ERRORS):
            async with self._pool.acquire() as conn, conn.transaction():
                status = await conn.fetchval(
                    "SELECT status FROM campaigns WHERE id = $1 AND tenant_id = $2 FOR UPDATE",
                    campaign_id,
                    tenant,
                )
                if status is None:
                    raise CampaignNotFound(f"no campaign {campaign_id} for this tenant")
                if CampaignStatus(status) not in allowed:
                    raise InvalidTransition(f"cannot {action} a {status} campaign")
                row = await conn.fetchrow(
                    "UPDATE campaigns SET status = $2, updated_at = now() WHERE id = $1 "  # noqa: S608
                    f"RETURNING {CAMPAIGN_COLUMNS}",
                    campaign_id,
                    target.value,
                )
                if target is CampaignStatus.CANCELLED:
                    await conn.execute(
                        "UPDATE contacts SET state = 'cancelled', updated_at = now() "
                        "WHERE campaign_id = $1 AND state = 'pending'",
                        campaign_id,
                    )
                await insert_outbox(conn, message)
        assert row is not None
        return campaign_of(row)

    @contextlib.asynccontextmanager
    async def contact_loader(
        self, campaign: Campaign, limit: int
    ) -> AsyncIterator[PostgresContactLoader]:
        """A transaction with a staging table; commits when the block ends without error."""
        with translated("contact upload", POSTGRES_ERRORS):
            async with self._pool.acquire() as conn, conn.transaction():
                await conn.execute(
                    "CREATE TEMP TABLE contact_staging (line integer, phone text, "
                    "zone_key text, vars jsonb) ON COMMIT DROP"
                )
                yield PostgresContactLoader(conn, campaign, limit)

    async def progress(self, campaign: Campaign, now: datetime) -> Progress:
        with translated("progress", POSTGRES_ERRORS):
            async with self._pool.acquire() as conn:
                rows = await conn.fetch(
                    "SELECT state, outcome, count(*) AS n, sum(attempts) AS attempts, "
                    "count(*) FILTER (WHERE state = 'pending' AND next_at <= $2) AS due "
                    "FROM contacts WHERE campaign_id = $1 GROUP BY state, outcome",
                    campaign.id,
                    now,
                )
                in_flight = await conn.fetchval(
                    "SELECT count(*) FROM attempts WHERE campaign_id = $1 "
                    "AND state IN ('claimed', 'placed')",
                    campaign.id,
                )
                recent = await conn.fetchval(
                    "SELECT count(*) FROM attempts WHERE campaign_id = $1 AND placed_at > $2",
                    campaign.id,
                    now - timedelta(seconds=RATE_WINDOW_S),
                )
        p = Progress(in_flight=in_flight, calls_per_second=recent / RATE_WINDOW_S)
        for r in rows:
            p.attempts += r["attempts"] or 0
            if r["state"] == "pending":
                p.pending += r["n"]
                p.due += r["due"]
            elif r["state"] == "done":
                p.done += r["n"]
                p.outcomes[r["outcome"] or "unknown"] = r["n"]
            elif r["state"] == "cancelled":
                p.cancelled += r["n"]
        return p

    async def add_dnc(self, tenant: str, phone: str, reason: str | None) -> bool:
        """True when the number was not listed yet."""
        with translated("add dnc", POSTGRES_ERRORS):
            status = await self._pool.execute(
                "INSERT INTO dnc (tenant_id, phone, reason) VALUES ($1, $2, $3) "
                "ON CONFLICT DO NOTHING",
                tenant,
                phone,
                reason,
            )
        return str(status).endswith(" 1")

    async def remove_dnc(self, tenant: str, phone: str) -> bool:
        with translated("remove dnc", POSTGRES_ERRORS):
            status = await self._pool.execute(
                "DELETE FROM dnc WHERE tenant_id = $1 AND phone = $2", tenant, phone
            )
        return str(status).endswith(" 1")

    async def list_dnc(
        self, tenant: str, after: str | None, limit: int
    ) -> list[tuple[str, str | None, datetime]]:
        with translated("list dnc", POSTGRES_ERRORS):
            rows = await self._pool.fetch(
                "SELECT phone, reason, created_at FROM dnc WHERE tenant_id = $1 "
                "AND phone > $2 ORDER BY phone LIMIT $3",
                tenant,
                after or "",
                limit,
            )
        return [(r["phone"], r["reason"], r["created_at"]) for r in rows]

    async def is_ready(self) -> bool:
        async with self._pool.acquire() as conn:
            return bool(await conn.fetchval("SELECT 1"))


async def create_pool(dsn: str, min_size: int, max_size: int) -> "asyncpg.Pool[asyncpg.Record]":
    return await asyncpg.create_pool(dsn, min_size=min_size, max_size=max_size)
