"""Daily range partitions, owned by the service (no pg_partman).

``maintain()`` creates the partitions of the coming days and drops those wholly past
retention; the store calls ``ensure_days()`` before a batch that needs a day not created yet
(an old event replayed from a dead-letter topic, or a fresh database). Days are UTC.
"""

import re
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Final

import asyncpg
import structlog

from switchboard.history.settings import RetentionSettings

log = structlog.get_logger(__name__)

PARTITIONED: Final = ("calls", "call_events", "messages")
# Non-partitioned tables pruned with the partitions: (table, time column).
PRUNED: Final = (("call_index", "seen_at"), ("message_index", "seen_at"))
_NAME: Final = re.compile(r"_p(\d{8})$")
_LOCK_KEY: Final = 0x5B15_7041  # advisory lock serialising partition DDL across workers
Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


def day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def partition_name(table: str, day: date) -> str:
    return f"{table}_p{day:%Y%m%d}"


@dataclass(frozen=True, slots=True)
class MaintenanceResult:
    created: int
    dropped: int
    pruned: int


class PartitionManager:
    """Creates partitions ahead, drops them past retention, knows which days exist."""

    def __init__(
        self,
        pool: "asyncpg.Pool[asyncpg.Record]",
        retention: RetentionSettings,
        clock: Clock = utcnow,
    ) -> None:
        self._pool = pool
        self._retention = retention
        self._clock = clock
        self._known: set[date] = set()

    def now(self) -> datetime:
        return self._clock()

    def cutoff(self) -> datetime:
        """Rows before this instant are past retention (not stored; their partition dropped)."""
        return day_start(self._clock().astimezone(UTC).date() - timedelta(self._retention.days))

    def forget(self) -> None:
        """Re-read the catalogue on next use (another worker may have dropped a day)."""
        self._known.clear()

    async def _existing(self, conn: "asyncpg.Connection[asyncpg.Record]") -> dict[str, set[date]]:
        rows = await conn.fetch(
            """
            SELECT p.relname AS parent, c.relname AS child
            FROM pg_inherits i
            JOIN pg_class c ON c.oid = i.inhrelid
            JOIN pg_class p ON p.oid = i.inhparent
            WHERE p.relname = ANY($1::text[])
            """,
            list(PARTITIONED),
        )
        found: dict[str, set[date]] = {t: set() for t in PARTITIONED}
        for r in rows:
            m = _NAME.search(r["child"])
            if m:
                found[r["parent"]].add(datetime.strptime(m.group(1), "%Y%m%d").date())  # noqa: DTZ007
        return found

    async def ensure_days(self, days: Iterable[date]) -> int:
        """Create the partitions of ``days`` that do not exist; returns how many were created."""
        missing = set(days) - self._known
        if not missing:
            return 0
        created = 0
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _LOCK_KEY)
            existing = await self._existing(conn)
            for table in PARTITIONED:
                for day in sorted(missing - existing[table]):
                    lo, hi = day_start(day), day_start(day + timedelta(1))
                    await conn.execute(
                        f'CREATE TABLE "{partition_name(table, day)}" PARTITION OF "{table}" '
                        f"FOR VALUES FROM ('{lo.isoformat()}') TO ('{hi.isoformat()}')"
                    )
                    created += 1
        self._known |= missing
        if created:
            log.info("partitions created", count=created, days=sorted(str(d) for d in missing))
        return created

    async def maintain(self) -> MaintenanceResult:
        """Create today's and the coming days' partitions; drop the days past retention."""
        today = self._clock().astimezone(UTC).date()
        self.forget()
        created = await self.ensure_days(
            today + timedelta(n) for n in range(self._retention.ahead_days + 1)
        )
        cutoff = self.cutoff()
        dropped = 0
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _LOCK_KEY)
            existing = await self._existing(conn)
            for table in PARTITIONED:
                for day in sorted(existing[table]):
                    if day_start(day + timedelta(1)) <= cutoff:
                        await conn.execute(f'DROP TABLE "{partition_name(table, day)}"')
                        dropped += 1
            pruned = 0
            for table, column in PRUNED:
                status = await conn.execute(f"DELETE FROM {table} WHERE {column} < $1", cutoff)  # noqa: S608
                pruned += int(status.split()[-1])
            status = await conn.execute(
                "DELETE FROM conversations WHERE last_message_at < $1", cutoff
            )
            pruned += int(status.split()[-1])
        self.forget()
        result = MaintenanceResult(created=created, dropped=dropped, pruned=pruned)
        log.info("partitions maintained", cutoff=cutoff.isoformat(), **asdict(result))
        return result
