"""Daily range partitions, owned by the service (no pg_partman).

``maintain()`` creates the partitions of the coming days and drops those wholly past
retention; the store calls ``ensure_days()`` before a batch that needs a day not created yet
(an old event replayed from a dead-letter topic, or a fresh database). Days are UTC.

Locks: creating or dropping a partition takes an ``ACCESS EXCLUSIVE`` lock on its parent
table, which waits for every transaction reading that table (a slow CSV export) — and every
history write queues behind the waiting request. So each DDL statement runs in a short
transaction of its own with ``lock_timeout`` (``RetentionSettings.lock_timeout_s``): a
statement that cannot have its lock in time gives up (writes waited at most that long), the
failure is counted (``switchboard_history_maintenance_failures_total``), and ``maintain()``
tries again later with exponential backoff (tenacity, ``RetentionSettings.retry``).
"""

import contextlib
import re
import time as clock_time
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Final

import asyncpg
import structlog
from prometheus_client import Counter, Gauge

from switchboard.common.kafka import call_with_retries
from switchboard.common.metrics import start_at_zero
from switchboard.history.errors import LockTimeoutError, StoreUnavailableError
from switchboard.history.settings import RetentionSettings

log = structlog.get_logger(__name__)

MAINTENANCE_FAILURES = Counter(
    "switchboard_history_maintenance_failures_total",
    "Partition maintenance attempts that failed (tried again later), by reason: lock_timeout "
    "(a table lock not granted within SWITCHBOARD_RETENTION__LOCK_TIMEOUT_S) or error.",
    ["reason"],
)
# Known label values exist at 0 from the start (see common.metrics).
start_at_zero(MAINTENANCE_FAILURES, [("lock_timeout",), ("error",)])
MAINTENANCE_SUCCESS = Gauge(
    "switchboard_history_maintenance_last_success_timestamp_seconds",
    "When partition maintenance last completed (Unix time).",
)

PARTITIONED: Final = ("calls", "call_events", "messages")
# Non-partitioned tables pruned with the partitions: (table, time column).
PRUNED: Final = (
    ("call_index", "seen_at"),
    ("message_index", "seen_at"),
    ("call_recordings", "started_at"),
)
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

    @contextlib.asynccontextmanager
    async def _ddl(self) -> "AsyncIterator[asyncpg.Connection[asyncpg.Record]]":
        """A short transaction for partition DDL: lock waits bounded by ``lock_timeout`` (the
        advisory lock's too), serialised across workers by the advisory lock."""
        timeout_ms = max(1, round(self._retention.lock_timeout_s * 1000))
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT set_config('lock_timeout', $1, true)", f"{timeout_ms}ms")
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _LOCK_KEY)
            yield conn

    async def ensure_days(self, days: Iterable[date]) -> int:
        """Create the partitions of ``days`` that do not exist; returns how many were created.
        ``asyncpg.LockNotAvailableError`` when a lock was not granted within the lock timeout."""
        missing = set(days) - self._known
        if not missing:
            return 0
        created = 0
        async with self._ddl() as conn:
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
        """Create today's and the coming days' partitions, drop the days past retention; an
        attempt that fails (a lock not granted in time, the database away) is counted and
        tried again with backoff. Raises the last failure when every attempt failed."""
        result = await call_with_retries(self.maintain_once, self._retention.retry)
        MAINTENANCE_SUCCESS.set(clock_time.time())
        return result

    async def maintain_once(self) -> MaintenanceResult:
        """One attempt of :meth:`maintain`: every statement in a short transaction of its own,
        so what was done before a failure stays done. Failures are ours (retryable)."""
        try:
            return await self._maintain()
        except asyncpg.LockNotAvailableError as exc:
            MAINTENANCE_FAILURES.labels("lock_timeout").inc()
            log.warning("partition maintenance waited too long for a lock; will retry")
            raise LockTimeoutError(f"partition maintenance: {exc!r}") from exc
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError) as exc:
            MAINTENANCE_FAILURES.labels("error").inc()
            log.warning("partition maintenance failed; will retry", error=repr(exc))
            raise StoreUnavailableError(f"partition maintenance: {exc!r}") from exc
        finally:
            self.forget()

    async def _maintain(self) -> MaintenanceResult:
        today = self._clock().astimezone(UTC).date()
        self.forget()
        created = await self.ensure_days(
            today + timedelta(n) for n in range(self._retention.ahead_days + 1)
        )
        cutoff = self.cutoff()
        async with self._pool.acquire() as conn:
            existing = await self._existing(conn)
        dropped = 0
        for table in PARTITIONED:
            for day in sorted(existing[table]):
                if day_start(day + timedelta(1)) <= cutoff:
                    async with self._ddl() as conn:
                        await conn.execute(f'DROP TABLE IF EXISTS "{partition_name(table, day)}"')
                    dropped += 1
        pruned = 0
        async with self._ddl() as conn:
            for table, column in PRUNED:
                status = await conn.execute(f"DELETE FROM {table} WHERE {column} < $1", cutoff)  # noqa: S608
                pruned += int(status.split()[-1])
            status = await conn.execute(
                "DELETE FROM conversations WHERE last_message_at < $1", cutoff
            )
            pruned += int(status.split()[-1])
        result = MaintenanceResult(created=created, dropped=dropped, pruned=pruned)
        log.info("partitions maintained", cutoff=cutoff.isoformat(), **asdict(result))
        return result
