"""The CSV export on the real PostgreSQL: keyset chunks, each a short query with a statement
timeout, and no transaction left open while the client reads — the same CSV as one query."""

import contextlib
import csv
import io
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from litestar.testing import AsyncTestClient

from switchboard.common.auth import Audience, LocalSigner
from switchboard.history.adapters.pool import create_pool
from switchboard.history.adapters.queries import (
    CSV_SELECT,
    READ_SERVER_SETTINGS,
    PostgresHistoryReader,
)
from switchboard.history.app import create_api
from switchboard.history.models import to_fact
from switchboard.history.schemas import CSV_COLUMNS, CallFilters
from switchboard.history.settings import ApiSettings, HistorySettings

pytestmark = pytest.mark.integration
SIGNER = LocalSigner()
CALLS = 2_400
CHUNK = 250
START = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)


async def seed(pg_store, ev) -> None:
    """acme: CALLS calls, three to a second (ties on seen_at cross chunk boundaries), every
    fourth completed; globex: a few calls of its own."""
    events = []
    for i in range(CALLS):
        call_id, at = f"CA-{i:05d}", START + timedelta(seconds=i // 3)
        events.append(ev.call("ringing", 1, call_id=call_id, at=at))
        if i % 4 == 0:
            end = at + timedelta(seconds=30)
            events.append(ev.call("completed", 2, call_id=call_id, at=end, duration=30))
    events += [ev.call("ringing", 1, call_id=f"CA-g{i}", tenant="globex") for i in range(5)]
    for n in range(0, len(events), 500):
        await pg_store.record_call_facts([to_fact(e, "dflt") for e in events[n : n + 500]])


def settings(pg_settings, database, **api) -> HistorySettings:
    return HistorySettings(
        postgres=pg_settings,
        database=database,
        auth=SIGNER.settings(),
        api=ApiSettings(export_chunk_rows=CHUNK, **api),
    )


async def one_query_csv(pool, tenant: str, status: str | None = None) -> str:
    """What the export sent before: one query over the whole result, in the list order."""
    where, args = "tenant_id = $1", [tenant]
    if status:
        where, args = where + " AND status = $2", [*args, status]
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            f"SELECT {CSV_SELECT} FROM calls WHERE {where} "  # noqa: S608
            "ORDER BY seen_at DESC, call_id DESC",
            *args,
        )
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        writer.writerow(v.isoformat() if isinstance(v, datetime) else v for v in row)
    return buffer.getvalue()


def auth(tenant: str) -> dict[str, str]:
    return {"authorization": f"Bearer {SIGNER.token(tenant, Audience.HISTORY)}"}


async def test_chunked_export_is_the_csv_of_one_query(pg_settings, database, pg_store, pool, ev):
    await seed(pg_store, ev)
    async with AsyncTestClient(create_api(settings(pg_settings, database))) as client:
        everything = await client.get("/v1/calls/export.csv", headers=auth("acme"))
        completed = await client.get(
            "/v1/calls/export.csv", headers=auth("acme"), params={"status": "completed"}
        )
    assert everything.status_code == 200
    assert everything.text == await one_query_csv(pool, "acme")
    assert everything.text.count("\n") == CALLS + 1
    assert completed.text == await one_query_csv(pool, "acme", "completed")
    assert completed.text.count("\n") == CALLS // 4 + 1


async def open_transactions(watcher: "asyncpg.Connection[asyncpg.Record]") -> int:
    return int(
        await watcher.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid() AND xact_start IS NOT NULL"
        )
    )


async def test_no_transaction_stays_open_while_the_client_reads(
    pg_settings, database, pg_store, ev
) -> None:
    await seed(pg_store, ev)
    api = settings(pg_settings, database).api
    pool = await create_pool(pg_settings.dsn(database), 1, 2, READ_SERVER_SETTINGS)
    watcher = await asyncpg.connect(pg_settings.dsn(database))
    try:
        reader = PostgresHistoryReader(pool, api).for_tenant("acme")
        seen = 0
        async with contextlib.aclosing(reader.export_calls(CallFilters())) as rows:
            async for _ in rows:
                seen += 1
                if seen in (1, CHUNK, CHUNK + 1, 2 * CHUNK + 7):
                    # a slow client: the stream waits here, between chunks or inside one
                    assert await open_transactions(watcher) == 0, f"after row {seen}"
        assert seen == CALLS
    finally:
        await watcher.close()
        await pool.close()


async def test_a_chunk_waiting_past_the_statement_timeout_answers_503(
    pg_settings, database, pg_store, ev
) -> None:
    """A chunk's query may not run (or wait) longer than the statement timeout: behind a
    table lock the export fails fast with 503 instead of hanging on."""
    await seed(pg_store, ev)
    locker = await asyncpg.connect(pg_settings.dsn(database))
    # The server ends the lock holder after 30 s, so an export without a timeout (which would
    # wait for the lock) gets its 200 then, instead of hanging the test.
    await locker.execute("SET idle_in_transaction_session_timeout = '30s'")
    app = create_api(settings(pg_settings, database, export_statement_timeout_s=0.5))
    try:
        async with AsyncTestClient(app, timeout=120) as client:
            await locker.execute("BEGIN; LOCK TABLE calls IN ACCESS EXCLUSIVE MODE")
            response = await client.get("/v1/calls/export.csv", headers=auth("acme"))
            assert response.status_code == 503, "the export waited for the lock"
            assert response.headers["retry-after"] == "5"
    finally:
        locker.terminate()
