# ruff: noqa: ASYNC220 - a benchmark: prints, seeded data, a child process
"""Dialer benchmark: contact loading, pacing accuracy, and the concurrency cap.

    .venv/bin/python services/dialer/bench/dialer_bench.py [--contacts 300000] [--seconds 15]

1. **Load**: 300k generated CSV rows go through the real upload path (``POST
   /v1/campaigns/{id}/contacts`` of the API app: parse, validate and normalize with
   ``phonenumbers`` in worker processes, COPY to staging, merge). Baseline, same run: a raw
   ``COPY`` of the same rows (already normalized) into a same-shaped table. Target < 10 s.
2. **Pacing**: a campaign at 50 and then 200 calls/s runs for ``--seconds`` against the provider
   simulator (a separate process; real HTTP through the ``twilio`` SDK), and with an in-process
   provider (the dialer alone). Achieved = least-squares slope of call index over the time each
   create-call request was sent; the simulator's ``max_observed_cps``
   (most creations in any 1 s window) is reported too. Target: within 2 % of the configured rate.
3. **Cap**: a campaign capped at 1000 live calls dials as fast as it can (5000 calls/s) an
   in-process provider whose calls last 5-15 s and end through the real outcome handler;
   peak live calls on the provider's side vs the cap (must never be above).

Writes ``bench/results/dialer.json`` at the repository root and prints Markdown rows.
"""

import argparse
import asyncio
import json
import os
import random
import socket
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import redis.asyncio as aioredis
from litestar.testing import AsyncTestClient
from pydantic import SecretStr

from switchboard.common.auth import Audience, LocalSigner
from switchboard.common.config import (
    Channel,
    ConfigEntity,
    InMemoryConfig,
    PlanLimits,
    Tenant,
    TwilioAccount,
)
from switchboard.common.events import CallStatus, CallStatusChanged
from switchboard.common.settings import PostgresSettings
from switchboard.common.testing import unique
from switchboard.dialer import outbox
from switchboard.dialer.accounts import Accounts
from switchboard.dialer.adapters.postgres import PostgresCampaignStore
from switchboard.dialer.adapters.postgres_dialing import PostgresDialingStore
from switchboard.dialer.adapters.redis_pacer import RedisPacer
from switchboard.dialer.adapters.twilio import TwilioCallPlacer
from switchboard.dialer.app import create_api, redis_client
from switchboard.dialer.migrate import migrate
from switchboard.dialer.models import CallingWindow, CampaignConfig
from switchboard.dialer.phones import normalize_contact
from switchboard.dialer.repository import Campaign, ProviderCall
from switchboard.dialer.settings import DialerSettings, TwilioSettings
from switchboard.dialer.worker import DialWorker

ROOT = Path(__file__).resolve().parents[3]
RESULTS = ROOT / "bench" / "results" / "dialer.json"
ACCOUNT = "AC" + "be" * 16  # a Twilio account SID: "AC" and 32 hex digits
TOKEN = "bench-auth-token-0123456789"
CALLER_IDS = ("+12125550100", "+14155550100")
SIGNER = LocalSigner()
AREAS = ("212", "415", "646", "305", "713", "312", "206", "617", "404", "702")
ALL_DAY = CallingWindow(start=datetime.min.time(), end=datetime.max.time().replace(microsecond=0))
COMMAND = " ".join(["python", "services/dialer/bench/dialer_bench.py", *sys.argv[1:]])


def rate(sent: list[float]) -> float:
    """Calls per second: the least-squares slope of call index over send time, so one late
    first or last call does not skew it the way (n - 1) / (last - first) does."""
    times = sorted(sent)
    n = len(times)
    mean_t = sum(times) / n
    mean_i = (n - 1) / 2
    cov = sum((t - mean_t) * (i - mean_i) for i, t in enumerate(times))
    var = sum((t - mean_t) ** 2 for t in times)
    return cov / var


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def settings_for(database: str, cps: float, max_concurrent: int, sim_url: str) -> DialerSettings:
    s = DialerSettings(
        database=database,
        redis_prefix=unique("dialer_bench"),
        auth=SIGNER.settings(rate_limit_per_second=0),
        twilio=TwilioSettings(
            api_base_url=sim_url,  # type: ignore[arg-type]
        ),
        upload_processes=2,
    )
    s.window.start, s.window.end = ALL_DAY.start, ALL_DAY.end
    s.worker.max_pending_placements = 5000
    return s


def bench_entities(cps: float, max_concurrent: int) -> list[ConfigEntity]:
    """The tenant ``bench``, its account and caller IDs, as the control plane publishes them."""
    return [
        Tenant(
            id="bench",
            name="Bench",
            limits=PlanLimits(calls_per_second=cps, concurrent_calls=max_concurrent),
        ),
        TwilioAccount(
            id=ACCOUNT,
            tenants=("bench",),
            auth_tokens=(SecretStr(TOKEN),),
            cps=cps,
            max_concurrent=max_concurrent,
        ),
        *(Channel(kind="phone", id=n, tenant="bench", account_id=ACCOUNT) for n in CALLER_IDS),
    ]


def bench_accounts(cps: float, max_concurrent: int) -> Accounts:
    return Accounts(InMemoryConfig(bench_entities(cps, max_concurrent)))  # type: ignore[arg-type]


def csv_rows(n: int) -> bytes:
    rng = random.Random(42)
    lines = ["phone,name"]
    seen: set[str] = set()
    while len(seen) < n:
        phone = f"+1{rng.choice(AREAS)}{rng.randint(200, 999)}{rng.randint(0, 9999):04d}"
        if phone not in seen:
            seen.add(phone)
            lines.append(f"{phone},c{len(seen)}")
    return ("\n".join(lines) + "\n").encode()


async def bench_load(pg: PostgresSettings, database: str, n: int) -> list[dict[str, Any]]:
    body = csv_rows(n)
    settings = settings_for(database, 1000, 1000, "http://127.0.0.1:9")
    headers = {**SIGNER.bearer("bench", Audience.DIALER), "content-type": "text/csv"}
    async with AsyncTestClient(
        app=create_api(settings, config=bench_accounts(1000, 1000).config), timeout=300
    ) as client:
        r = await client.post(
            "/v1/campaigns",
            json={"name": "load", "caller_ids": ["+12125550100"], "twiml": "<Response/>"},
            headers=headers,
        )
        cid = r.json()["id"]
        started = time.perf_counter()
        r = await client.post(f"/v1/campaigns/{cid}/contacts", content=body, headers=headers)
        load_s = time.perf_counter() - started
        assert r.status_code == 200, r.text
        accepted = r.json()["accepted"]
    rows = []
    for i, line in enumerate(body.decode().splitlines()[1:]):
        phone = line.split(",")[0]
        e164, key = normalize_contact(phone, None, None)  # type: ignore[misc]
        rows.append((i + 2, e164, key, json.dumps({"name": f"c{i}"})))
    conn = await asyncpg.connect(pg.dsn(database))
    try:
        await conn.execute(
            "CREATE TABLE copy_baseline (LIKE contacts INCLUDING DEFAULTS INCLUDING INDEXES)"
        )
        started = time.perf_counter()
        await conn.copy_records_to_table(
            "copy_baseline",
            records=[(uuid.UUID(cid), p, k, v) for _, p, k, v in rows],
            columns=["campaign_id", "phone", "zone_key", "vars"],
        )
        copy_s = time.perf_counter() - started
    finally:
        await conn.close()
    print(f"load: {accepted} contacts in {load_s:.2f} s; raw COPY {copy_s:.2f} s")
    return [
        result(
            f"contact upload, {n} CSV rows (validate + normalize + COPY + merge)",
            load_s,
            "s",
            copy_s,
            "raw COPY of the same normalized rows",
            extra={"target_s": 10, "accepted": accepted},
        )
    ]


async def new_campaign(
    pool: "asyncpg.Pool[asyncpg.Record]", cps: float, cap: int, n: int, tag: str
) -> Campaign:
    store = PostgresCampaignStore(pool)
    cfg = CampaignConfig(caller_ids=["+12125550100"], twiml="<Response/>", window=ALL_DAY)
    c = await store.create_campaign(
        Campaign(uuid.uuid4(), "bench", tag, "draft", ACCOUNT, cps, cap, cfg)
    )
    rng = random.Random(tag)
    phones = {
        f"+1{rng.choice(AREAS)}{rng.randint(200, 999)}{rng.randint(0, 9999):04d}"
        for _ in range(n * 2)
    }
    rows = [(i, p, "America/New_York", None) for i, p in enumerate(sorted(phones)[:n])]
    async with store.contact_loader(c, 10) as loader:
        await loader.add(rows)
        await loader.finish()
    now = datetime.now(UTC)
    await store.apply_command(
        "bench", c.id, "start", outbox.command(c.id, "bench", "start", None, now)
    )
    return c


async def run_dialer(dialer: DialWorker, done: Any, timeout_s: float) -> None:
    task = asyncio.create_task(dialer.loop.run())
    deadline = time.monotonic() + timeout_s
    try:
        while not await done():
            if time.monotonic() > deadline:
                raise TimeoutError("benchmark campaign did not finish")
            await asyncio.sleep(0.05)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def bench_pacing(
    pg: PostgresSettings, database: str, seconds: float, rates: list[float]
) -> list[dict[str, Any]]:
    port = free_port()
    sim_url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "SWITCHBOARD_SIM__PORT": str(port),
        "SWITCHBOARD_SIM__TWILIO_ACCOUNTS": json.dumps(
            {
                ACCOUNT: {
                    "auth_token": TOKEN,
                    "cps": 10_000,
                    "max_concurrent_calls": 1_000_000,
                    "max_concurrent_requests": 10_000,
                }
            }
        ),
        "SWITCHBOARD_LOG__LEVEL": "WARNING",
    }
    sim = subprocess.Popen(
        [sys.executable, "-m", "switchboard.providersim", "serve"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    out = []
    pool = await asyncpg.create_pool(pg.dsn(database), min_size=2, max_size=20)
    try:
        async with httpx.AsyncClient(base_url=sim_url, timeout=60) as http:
            for _ in range(200):
                try:
                    if (await http.get("/health")).status_code == 200:
                        break
                except httpx.HTTPError:
                    await asyncio.sleep(0.1)
            for cps in rates:
                try:
                    await http.post("/_sim/reset")
                    n = int(cps * seconds) + 1
                    await new_campaign(pool, cps, 1_000_000, n, f"pace-{cps}")
                    settings = settings_for(database, cps, 1_000_000, sim_url)
                    # No ingress here: callbacks go to the simulator itself (404, never retried).
                    settings.twilio.callback_overrides = ""
                    redis = redis_client(settings)
                    accounts = bench_accounts(cps, 1_000_000)
                    placer = TwilioCallPlacer(settings.twilio, sim_url, accounts.credentials)
                    sent: list[float] = []
                    timed = SendTimes(placer, sent)
                    pacer = RedisPacer(
                        redis,
                        settings.redis_prefix,
                        claim_lease_s=30,
                        placed_lease_s=3600,
                        throttle_backoff_s=1,
                        throttle_recover_s=10,
                        tolerance_s=settings.worker.pacing_tolerance_s,
                    )
                    dialer = DialWorker(
                        settings,
                        PostgresDialingStore(pool),
                        pacer,
                        timed,  # type: ignore[arg-type]
                        accounts=accounts,
                    )

                    async def sent_all(n: int = n, sent: list[float] = sent) -> bool:
                        return len(sent) >= n

                    try:
                        # Pacing is about when requests leave; the simulator's answers may lag.
                        await run_dialer(dialer, sent_all, seconds * 4 + 30)
                        await asyncio.sleep(2.0)
                    finally:
                        await placer.close()
                        await redis.aclose()
                    achieved = rate(sent)
                    limits = (await http.get("/_sim/limits")).json()
                    observed = limits.get(ACCOUNT, limits).get("max_observed_cps")
                    print(
                        f"pacing {cps}/s: achieved {achieved:.2f}/s, sim max 1 s window {observed}"
                    )
                    out.append(
                        result(
                            f"achieved calls/s at {cps:g} configured ({seconds:g} s, simulator)",
                            achieved,
                            "calls/s",
                            cps,
                            "configured rate",
                            extra={"target": "within 2 %", "sim_max_observed_cps": observed},
                        )
                    )
                except (TimeoutError, httpx.HTTPError) as exc:
                    # The simulator shares this machine's cores; past its capacity it stalls.
                    print(f"pacing {cps}/s via the simulator failed: {exc!r}")
                    out.append(
                        result(
                            f"achieved calls/s at {cps:g} configured ({seconds:g} s, simulator)",
                            0.0,
                            "calls/s",
                            cps,
                            "configured rate",
                            extra={"error": f"simulator did not keep up: {exc!r}"},
                        )
                    )
    finally:
        await pool.close()
        sim.terminate()
        sim.wait(timeout=30)
    return out


class SendTimes:
    """Wraps a placer and notes when each create-call request leaves (our pacing)."""

    def __init__(self, placer: TwilioCallPlacer, sent: list[float]) -> None:
        self._placer = placer
        self._sent = sent

    async def place(self, account_sid: str, **kwargs: Any) -> str:
        self._sent.append(time.monotonic())
        return await self._placer.place(account_sid, **kwargs)

    async def calls_to(self, *args: Any, **kwargs: Any) -> list[ProviderCall]:
        return await self._placer.calls_to(*args, **kwargs)

    async def hang_up(self, *args: Any) -> None:
        await self._placer.hang_up(*args)


class InstantProvider:
    """Answers every create-call at once (20 ms); notes when each request left."""

    def __init__(self) -> None:
        self.sent: list[float] = []

    async def place(self, account_sid: str, **_: Any) -> str:
        self.sent.append(time.monotonic())
        await asyncio.sleep(0.02)
        return f"CA{uuid.uuid4().hex}"

    async def calls_to(self, *_: Any, **__: Any) -> list[ProviderCall]:
        return []

    async def hang_up(self, *_: Any) -> None:
        return None


async def bench_pacing_alone(
    pg: PostgresSettings, database: str, seconds: float, rates: list[float]
) -> list[dict[str, Any]]:
    """The same pacing with an in-process provider: the dialer's own accuracy."""
    out = []
    pool = await asyncpg.create_pool(pg.dsn(database), min_size=2, max_size=20)
    try:
        for cps in rates:
            n = int(cps * seconds) + 1
            c = await new_campaign(pool, cps, 1_000_000, n, f"alone-{cps}")
            settings = settings_for(database, cps, 1_000_000, "http://127.0.0.1:9")
            redis = redis_client(settings)
            pacer = RedisPacer(
                redis,
                settings.redis_prefix,
                claim_lease_s=30,
                placed_lease_s=3600,
                throttle_backoff_s=1,
                throttle_recover_s=10,
                tolerance_s=settings.worker.pacing_tolerance_s,
            )
            provider = InstantProvider()
            dialer = DialWorker(
                settings,
                PostgresDialingStore(pool),
                pacer,
                provider,
                accounts=bench_accounts(cps, 1_000_000),
            )

            async def sent_all(p: InstantProvider = provider, n: int = n) -> bool:
                return len(p.sent) >= n

            try:
                await run_dialer(dialer, sent_all, seconds * 4 + 30)
            finally:
                await redis.aclose()
            sent = sorted(provider.sent)
            achieved = rate(sent)
            window = max(sum(1 for u in sent[i:] if u < t + 1.0) for i, t in enumerate(sent))
            print(f"pacing alone {cps}/s: achieved {achieved:.2f}/s, max 1 s window {window}")
            out.append(
                result(
                    f"achieved calls/s at {cps:g} configured ({seconds:g} s, in-process provider)",
                    achieved,
                    "calls/s",
                    cps,
                    "configured rate",
                    extra={
                        "target": "within 2 %",
                        "max_calls_in_1s_window": window,
                        "campaign": str(c.id),
                    },
                )
            )
    finally:
        await pool.close()
    return out


class TimedProvider:
    """Calls last 5-15 s (so live calls pile up to the cap); each ends through the real outcome
    handler, which frees its slot."""

    def __init__(self) -> None:
        self.live = 0
        self.peak = 0
        self.total = 0
        self.on_end: Any = None
        self.closed = False
        self._rng = random.Random(3)

    async def place(self, account_sid: str, *, to: str, from_: str, **_: Any) -> str:
        sid = f"CA{uuid.uuid4().hex}"
        self.live += 1
        self.total += 1
        self.peak = max(self.peak, self.live)
        asyncio.get_running_loop().call_later(
            self._rng.uniform(5.0, 15.0), lambda: asyncio.ensure_future(self._end(sid))
        )
        return sid

    async def _end(self, sid: str) -> None:
        self.live -= 1  # ended at the provider before its event is handled
        if not self.closed:
            await self.on_end(sid)

    async def calls_to(self, *_: Any, **__: Any) -> list[ProviderCall]:
        return []

    async def hang_up(self, *_: Any) -> None:
        return None


async def bench_cap(
    pg: PostgresSettings, database: str, cap: int, seconds: float
) -> list[dict[str, Any]]:
    pool = await asyncpg.create_pool(pg.dsn(database), min_size=2, max_size=30)
    settings = settings_for(database, 5000, cap, "http://127.0.0.1:9")
    redis = redis_client(settings)
    n = 12_000
    c = await new_campaign(pool, 5000, cap, n, "cap")
    store = PostgresDialingStore(pool)
    pacer = RedisPacer(
        redis,
        settings.redis_prefix,
        claim_lease_s=30,
        placed_lease_s=3600,
        throttle_backoff_s=1,
        throttle_recover_s=10,
    )
    provider = TimedProvider()
    tasks: set[asyncio.Task[None]] = set()

    async def end(sid: str) -> None:
        data = CallStatusChanged(
            provider="twilio",
            call_id=sid,
            status=CallStatus.COMPLETED,
            occurred_at=datetime.now(UTC),
        )
        for _ in range(50):  # the sid may not be committed yet
            slot = await store.apply_call_status(sid, "completed", None, datetime.now(UTC))
            if slot is not None:
                await pacer.release_slots(slot.lane, [slot.attempt_id])
                return
            await asyncio.sleep(0.05)
        _ = data

    provider.on_end = end
    dialer = DialWorker(
        settings,
        store,
        pacer,
        provider,  # type: ignore[arg-type]
        accounts=bench_accounts(5000, cap),
    )
    peak_slots = 0

    async def over() -> bool:
        nonlocal peak_slots
        peak_slots = max(peak_slots, await pacer.in_flight(ACCOUNT, c.id))
        return provider.total >= n or time.monotonic() > stop_at

    stop_at = time.monotonic() + seconds
    try:
        await run_dialer(dialer, over, seconds + 60)
    finally:
        provider.closed = True
        for t in tasks:
            t.cancel()
        await redis.aclose()
        await pool.close()
    print(
        f"cap {cap}: provider peak live {provider.peak}, peak slots {peak_slots},",
        f"calls {provider.total}",
    )
    return [
        result(
            f"peak live calls with a cap of {cap} ({provider.total} calls at 5000/s asked)",
            provider.peak,
            "calls",
            cap,
            "configured cap (never above)",
            extra={"peak_slots_in_redis": peak_slots},
        )
    ]


def result(
    metric: str, value: float, unit: str, baseline: float, baseline_is: str, extra: dict[str, Any]
) -> dict[str, Any]:
    return {
        "metric": metric,
        "value": round(value, 3),
        "unit": unit,
        "baseline": round(baseline, 3),
        "baseline_is": baseline_is,
        "ratio": round(value / baseline, 4) if baseline else None,
        "command": COMMAND,
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        **extra,
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=300_000)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--cap", type=int, default=1000)
    parser.add_argument("--sim-rates", default="50,200", help="rates run against the simulator")
    args = parser.parse_args()
    pg = PostgresSettings()
    database = unique("dialer_bench")
    await asyncio.to_thread(migrate, pg, database)
    results: list[dict[str, Any]] = []
    try:
        results += await bench_load(pg, database, args.contacts)
        results += await bench_pacing_alone(pg, database, args.seconds, [50.0, 200.0])
        sim_rates = [float(r) for r in args.sim_rates.split(",") if r]
        results += await bench_pacing(pg, database, args.seconds, sim_rates)
        results += await bench_cap(pg, database, args.cap, args.seconds)
    finally:
        conn = await asyncpg.connect(pg.dsn("postgres"))
        await conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        await conn.close()
        client = aioredis.from_url(DialerSettings().redis.url.get_secret_value())
        keys = [k async for k in client.scan_iter("dialer_bench_*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print("\n| metric | value | baseline | ratio |\n| --- | --- | --- | --- |")
    for r in results:
        value = f"{r['value']} {r['unit']}"
        base = f"{r['baseline']} ({r['baseline_is']})"
        print(f"| {r['metric']} | {value} | {base} | {r['ratio']} |")


if __name__ == "__main__":
    asyncio.run(main())
