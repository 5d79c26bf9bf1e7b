"""History benchmark: store throughput against a raw COPY, and ``GET /v1/calls`` latency.

    .venv/bin/python services/history/bench/history_bench.py [--events 60000] [--rows 10000000]
        [--only store|query]

1. **Store**: the same call events (4 per call, interleaved across batches the way concurrent
   calls arrive) are written through ``PostgresStore.record_call_facts`` in batches of 500,
   and — in the same run, into a same-shaped table — with a raw ``COPY`` of the same event
   rows. Ratio = store events/s ÷ COPY events/s (target ≥ 0.5).
2. **Query**: ``calls`` is filled with ``INSERT … SELECT generate_series`` over 90 daily
   partitions (10 tenants) in 1M-row steps until ``--rows`` or ~8 minutes, then the real API
   process (``switchboard-history api``) is asked for pages (first page, status filter, time
   window, and a deep cursor walk); p95 over all requests. Baseline: the same SQL straight
   through asyncpg (ratio = SQL p95 ÷ API p95).

Writes ``bench/results/history.json`` at the repository root and prints Markdown rows; with
``--only``, just that part runs and only its row in the file is replaced.
"""

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from switchboard.bench.report import write_rows
from switchboard.common.auth import Audience, LocalSigner
from switchboard.common.events import CallStatus, CallStatusChanged, event_id
from switchboard.common.settings import PostgresSettings
from switchboard.common.testing import unique
from switchboard.history.adapters.partitions import PartitionManager
from switchboard.history.adapters.pool import create_pool
from switchboard.history.adapters.postgres import PostgresStore
from switchboard.history.adapters.sql import EVENT_COLUMNS
from switchboard.history.migrate import migrate
from switchboard.history.models import CallFact
from switchboard.history.settings import RetentionSettings

ROOT = Path(__file__).resolve().parents[3]
RESULTS = ROOT / "bench" / "results" / "history.json"
BATCH = 500
SIGNER = LocalSigner()
LIFECYCLE = (
    (CallStatus.INITIATED, 0),
    (CallStatus.RINGING, 1),
    (CallStatus.IN_PROGRESS, 2),
    (CallStatus.COMPLETED, 3),
)
FILL_BUDGET_S = 480.0  # 10M rows take ~4 minutes on the 2-core dev box
STEP_ROWS = 1_000_000
TENANTS = 10
DAYS = 90


def make_facts(n_events: int, now: datetime) -> list[CallFact]:
    """Calls whose 4 events are spread over consecutive batches (many calls in flight)."""
    n_calls = n_events // len(LIFECYCLE)
    waves: list[list[CallFact]] = [[] for _ in LIFECYCLE]
    facts: list[CallFact] = []
    window = BATCH // 2  # calls started per wave
    for start in range(0, n_calls, window):
        waves = [[] for _ in LIFECYCLE]
        for i in range(start, min(start + window, n_calls)):
            call_id = f"CA{i:030d}"
            for step, (status, seq) in enumerate(LIFECYCLE):
                data = CallStatusChanged(
                    provider="twilio",
                    call_id=call_id,
                    account_id="AC1",
                    status=status,
                    sequence_number=seq,
                    direction="outbound-api",
                    from_number="+15005550006",
                    to_number=f"+1415{i % 10_000_000:07d}",
                    duration_s=30 if status is CallStatus.COMPLETED else None,
                    occurred_at=now - timedelta(minutes=10) + timedelta(seconds=seq),
                    raw={"CallSid": call_id, "CallStatus": status.value},
                )
                eid = event_id("twilio", call_id, status.value, seq)
                waves[step].append(CallFact(eid, f"tenant-{i % TENANTS}", call_id, data))
        for wave in waves:
            facts.extend(wave)
    return facts


def raw_rows(facts: list[CallFact], seen_at: datetime) -> list[tuple[Any, ...]]:
    """The rows ``call_events`` gets for ``facts``, ready for COPY."""
    return [
        (
            f.event_id,
            seen_at,
            f.call_id,
            f.tenant_id,
            f.event_type,
            f.status.value if f.status else None,
            f.sequence_number,
            f.occurred_at,
            f.data.model_dump_json(),
        )
        for f in facts
    ]


async def bench_store(pg: PostgresSettings, database: str, n_events: int) -> dict[str, float]:
    """Store and COPY take turns batch by batch, so both see the same load on the machine."""
    now = datetime.now(UTC)
    facts = make_facts(n_events, now)
    pool = await create_pool(pg.dsn(database), 2, 4)
    try:
        partitions = PartitionManager(pool, RetentionSettings(), lambda: now)
        await partitions.maintain()
        store = PostgresStore(pool, partitions)
        await store.record_call_facts(facts[:BATCH])  # warm up (connections, plans)
        async with pool.acquire() as conn:
            await conn.execute("TRUNCATE call_index, calls, call_events")
            # the baseline's table: call_events' columns and indexes, not partitioned
            await conn.execute(
                "CREATE TABLE raw_events (LIKE call_events INCLUDING DEFAULTS INCLUDING INDEXES)"
            )
        store_s = copy_s = 0.0
        async with pool.acquire() as conn:
            for i in range(0, len(facts), BATCH):
                batch = facts[i : i + BATCH]
                started = time.perf_counter()
                await store.record_call_facts(batch)
                store_s += time.perf_counter() - started
                started = time.perf_counter()
                rows = raw_rows(batch, now)  # the COPY pays for building its rows too
                await conn.copy_records_to_table("raw_events", records=rows, columns=EVENT_COLUMNS)
                copy_s += time.perf_counter() - started
            stored = await conn.fetchval("SELECT count(*) FROM call_events")
            completed = await conn.fetchval("SELECT count(*) FROM calls WHERE status='completed'")
            assert stored == len(facts), (stored, len(facts))
            assert completed == len(facts) // len(LIFECYCLE)
    finally:
        await pool.close()
    return {"store_eps": len(facts) / store_s, "copy_eps": len(facts) / copy_s}


# Only constants are formatted into the SQL.
FILL_SQL = f"""
INSERT INTO calls (call_id, seen_at, tenant_id, provider, account_id, status, status_rank,
                   sequence_number, direction, from_number, to_number, duration_s,
                   first_event_at, last_event_at, ended_at, event_count, cost)
SELECT 'CB' || lpad(g::text, 30, '0'),
       ts, 'tenant-' || (g % {TENANTS}), 'twilio', 'AC1',
       (ARRAY['completed','completed','completed','busy','no-answer','failed','in-progress'])
           [1 + (g % 7)],
       CASE WHEN g % 7 = 6 THEN 3 ELSE 4 END,
       3, 'outbound-api', '+15005550006', '+1415' || lpad((g % 10000000)::text, 7, '0'),
       CASE WHEN g % 7 < 3 THEN 5 + (g % 300) END,
       ts, ts + interval '1 minute', ts + interval '1 minute', 4, (g % 100) / 100.0
FROM generate_series($1::bigint, $2::bigint) AS g,
     LATERAL (SELECT $3::timestamptz - (g % ({DAYS} * 86400)) * interval '1 second' AS ts) t
"""  # noqa: S608


async def fill_calls(pg: PostgresSettings, database: str, target: int, now: datetime) -> int:
    pool = await create_pool(pg.dsn(database), 1, 2)
    try:
        retention = RetentionSettings(days=DAYS + 2)
        partitions = PartitionManager(pool, retention, lambda: now)
        await partitions.maintain()
        await partitions.ensure_days((now - timedelta(days=d)).date() for d in range(DAYS + 1))
        filled, started = 0, time.perf_counter()
        async with pool.acquire() as conn:
            while filled < target and time.perf_counter() - started < FILL_BUDGET_S:
                step = min(STEP_ROWS, target - filled)
                await conn.execute(FILL_SQL, filled + 1, filled + step, now, timeout=600)
                filled += step
                print(f"  filled {filled:,} rows in {time.perf_counter() - started:.0f}s")
            await conn.execute("ANALYZE calls", timeout=600)
        return filled
    finally:
        await pool.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=100)[94]


def api_queries(now: datetime) -> list[dict[str, Any]]:
    day = (now - timedelta(days=30)).replace(microsecond=0)
    return [
        {},
        {"status": "busy"},
        {"since": day.isoformat(), "until": (day + timedelta(days=1)).isoformat()},
        {"to": "+14150000003"},
    ]


async def timed_get(client: httpx.AsyncClient, params: dict[str, Any], out: list[float]) -> Any:
    started = time.perf_counter()
    response = await client.get("/v1/calls", params=params)
    out.append((time.perf_counter() - started) * 1000)
    response.raise_for_status()
    return response.json()


async def wait_ready(client: httpx.AsyncClient) -> None:
    for _ in range(120):
        try:
            if (await client.get("/ready")).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        await asyncio.sleep(0.5)
    raise RuntimeError("the API did not become ready")


QUERY_KINDS = ("first page", "status", "one day", "to number")


async def measure_api(base: str, now: datetime) -> dict[str, list[float]]:
    """Latencies (ms) by kind of request: the four filters, and the deep cursor walk."""
    headers = SIGNER.bearer("tenant-3", Audience.HISTORY)
    by_kind: dict[str, list[float]] = {k: [] for k in (*QUERY_KINDS, "cursor walk")}
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as client:
        await wait_ready(client)
        for q in api_queries(now):  # warm up
            await timed_get(client, q, [])
        for _ in range(50):
            for kind, q in zip(QUERY_KINDS, api_queries(now), strict=True):
                await timed_get(client, {**q, "limit": 50}, by_kind[kind])
        cursor = None
        for i in range(100):  # a deep walk: every page fetched with the previous cursor
            params: dict[str, Any] = {"limit": 50 if i % 2 else 100}
            if cursor:
                params["cursor"] = cursor
            cursor = (await timed_get(client, params, by_kind["cursor walk"]))["next_cursor"]
    return by_kind


async def measure_sql(pg: PostgresSettings, database: str, now: datetime) -> list[float]:
    day = (now - timedelta(days=30)).replace(microsecond=0)
    sql = (
        "SELECT call_id, provider, status, direction, from_number, to_number, seen_at, "
        "first_event_at, ended_at, duration_s, answered_by, campaign_id, cost, ended_reason "
        "FROM calls WHERE tenant_id = $1 {extra} ORDER BY seen_at DESC, call_id DESC LIMIT 51"
    )
    cases: list[tuple[str, tuple[Any, ...]]] = [
        ("", ()),
        ("AND status = $2", ("busy",)),
        ("AND seen_at >= $2 AND seen_at < $3", (day, day + timedelta(days=1))),
        ("AND to_number = $2", ("+14150000003",)),
    ]
    sql_ms: list[float] = []
    conn = await asyncpg.connect(pg.dsn(database))
    try:
        for _ in range(50):
            for extra, args in cases:
                started = time.perf_counter()
                await conn.fetch(sql.format(extra=extra), "tenant-3", *args)
                sql_ms.append((time.perf_counter() - started) * 1000)
    finally:
        await conn.close()
    return sql_ms


async def bench_api(pg: PostgresSettings, database: str, now: datetime) -> dict[str, float]:
    port = free_port()
    env = {
        **os.environ,
        "SWITCHBOARD_DATABASE": database,
        "SWITCHBOARD_API__PORT": str(port),
        **SIGNER.env(),
        "SWITCHBOARD_AUTH__RATE_LIMIT_PER_SECOND": "0",  # measured: the query, not the limit
        "SWITCHBOARD_LOG__LEVEL": "WARNING",
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "switchboard.history",
        "api",
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        by_kind = await measure_api(f"http://127.0.0.1:{port}", now)
    finally:
        proc.terminate()
        await proc.wait()
    sql_ms = await measure_sql(pg, database, now)
    for kind, ms in by_kind.items():
        print(
            f"  {kind}: p50 {statistics.median(ms):.1f} ms, p95 {p95(ms):.1f} ms, max {max(ms):.1f}"
        )
    api_ms = [m for ms in by_kind.values() for m in ms]
    return {
        "api_p95_ms": p95(api_ms),
        "api_p50_ms": statistics.median(api_ms),
        "sql_p95_ms": p95(sql_ms),
        "requests": float(len(api_ms)),
    }


async def drop(pg: PostgresSettings, database: str) -> None:
    conn = await asyncpg.connect(pg.dsn("postgres"))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    finally:
        await conn.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=60_000)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--only", choices=["store", "query"], default=None)
    args = parser.parse_args()
    pg = PostgresSettings()
    store_db, query_db = unique("history_bench_store"), unique("history_bench_query")
    command = " ".join(["python", "services/history/bench/history_bench.py", *sys.argv[1:]])
    date = datetime.now(UTC).isoformat(timespec="seconds")
    results: list[dict[str, Any]] = []

    def row(metric: str, value: float, unit: str, baseline: float, ratio: float) -> dict[str, Any]:
        return {
            "metric": metric,
            "value": value,
            "unit": unit,
            "baseline": baseline,
            "ratio": round(ratio, 3),
            "command": command,
            "date": date,
        }

    try:
        if args.only in (None, "store"):
            await asyncio.to_thread(migrate, pg, store_db)
            store = await bench_store(pg, store_db, args.events)
            results.append(
                row(
                    f"history store: call events stored per second ({args.events:,} "
                    f"events, batches of {BATCH})",
                    round(store["store_eps"], 1),
                    "events/s",
                    round(store["copy_eps"], 1),
                    store["store_eps"] / store["copy_eps"],
                )
            )
        if args.only in (None, "query"):
            await asyncio.to_thread(migrate, pg, query_db)
            now = datetime.now(UTC)
            rows = await fill_calls(pg, query_db, args.rows, now)
            api = await bench_api(pg, query_db, now)
            results.append(
                row(
                    f"history GET /v1/calls p95 latency ({rows:,} calls in {DAYS} daily "
                    f"partitions, {TENANTS} tenants, {int(api['requests'])} requests)",
                    round(api["api_p95_ms"], 2),
                    "ms",
                    round(api["sql_p95_ms"], 2),
                    api["sql_p95_ms"] / api["api_p95_ms"],  # lower is better: baseline ÷ value
                )
            )
            print(f"(API p50 {api['api_p50_ms']:.2f} ms)")
    finally:
        await drop(pg, store_db)
        await drop(pg, query_db)
    write_results(results)
    print("| metric | value | unit | baseline | ratio |")
    print("| --- | --- | --- | --- | --- |")
    for r in results:
        print(f"| {r['metric']} | {r['value']} | {r['unit']} | {r['baseline']} | {r['ratio']} |")


def write_results(results: list[dict[str, Any]]) -> None:
    """Replace the measured rows (matched by the part of the metric before its ``(``)."""
    measured = {r["metric"].split(" (")[0] for r in results}
    write_rows(RESULTS, results, replaces=lambda r: r["metric"].split(" (")[0] in measured)


if __name__ == "__main__":
    asyncio.run(main())
