"""Dialer soak: a whole 300k-contact campaign against the provider simulator.

    .venv/bin/python services/dialer/bench/dialer_soak.py [--contacts 300000] [--cps 200]

Real processes: the provider simulator, the ingress and a dialer worker (``python -m
switchboard.dialer worker``), with Kafka, PostgreSQL and Redis. The campaign (one attempt per
contact, so every number must be called exactly once) runs to the end; calls last about a
second of real time (the simulator's ``time_scale``) and end with signed callbacks through the
ingress. Measured:

- achieved calls/s (least-squares slope of placements over the whole run) vs configured;
- numbers the simulator saw called more than once (double dials; must be 0) and calls the
  simulator saw vs attempts the dialer recorded (must match);
- the simulator's limit breaches (must be 0) and peak live calls vs the cap.

Writes ``bench/results/dialer-soak.json`` and prints Markdown rows.
"""

import argparse
import asyncio
import json
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import redis.asyncio as aioredis

from switchboard.bench.report import write_rows
from switchboard.common.migrations import drop_database
from switchboard.common.settings import CommonSettings, PostgresSettings
from switchboard.common.testing import (
    ServiceProcess,
    free_port,
    fresh_group,
    seeded_config_env,
    unique,
)
from switchboard.common.topics import CALL_EVENTS, MESSAGE_INBOUND
from switchboard.dialer import outbox
from switchboard.dialer.adapters.postgres import PostgresCampaignStore
from switchboard.dialer.migrate import migrate
from switchboard.dialer.models import CampaignConfig, RetryDelays
from switchboard.dialer.repository import Campaign
from switchboard.dialer.settings import DialerSettings

sys.path.insert(0, str(Path(__file__).parent))
from dialer_bench import ACCOUNT, ALL_DAY, TOKEN, bench_entities, csv_rows, rate, result

ROOT = Path(__file__).resolve().parents[3]
RESULTS = ROOT / "bench" / "results" / "dialer-soak.json"
SETTLE_S = 15.0
COMMAND = " ".join(["python", "services/dialer/bench/dialer_soak.py", *sys.argv[1:]])


def processes(
    logdir: Path,
    database: str,
    prefix: str,
    group: str,
    args: argparse.Namespace,
    config_env: dict[str, str],
) -> list[ServiceProcess]:
    """``config_env``: a config topic holding ``bench_entities`` (the tenant, its account and
    caller IDs): the ingress verifies the callbacks with them, the worker calls under them."""
    cps, cap, time_scale = args.cps, args.cap, args.time_scale
    sim_port, ingress_port, worker_port = free_port(), free_port(), free_port()
    sim = ServiceProcess(
        "provider-sim",
        ["switchboard.providersim", "serve"],
        {
            "SWITCHBOARD_LOG__LEVEL": "WARNING",
            "SWITCHBOARD_SIM__PORT": str(sim_port),
            "SWITCHBOARD_SIM__TIME_SCALE": str(time_scale),
            "SWITCHBOARD_SIM__SEED": "11",
            "SWITCHBOARD_SIM__TWILIO_ACCOUNTS": json.dumps(
                {
                    ACCOUNT: {
                        "auth_token": TOKEN,
                        "cps": cps * args.sim_cps_factor,
                        "queue_size": 10_000,
                        "max_concurrent_calls": cap * 2,
                    }
                }
            ),
        },
        sim_port,
        logdir,
    )
    ingress = ServiceProcess(
        "ingress",
        ["switchboard.ingress", "serve"],
        {
            "SWITCHBOARD_LOG__LEVEL": "WARNING",
            "SWITCHBOARD_HTTP__PORT": str(ingress_port),
            "SWITCHBOARD_HTTP__RATE_LIMIT_PER_SECOND": "0",
            "SWITCHBOARD_HTTP__PUBLIC_BASE_URL": f"http://127.0.0.1:{ingress_port}",
            **config_env,
            "SWITCHBOARD_SPOOL__DIRECTORY": str(logdir / "spool"),
        },
        ingress_port,
        logdir,
    )
    worker = ServiceProcess(
        "dialer",
        ["switchboard.dialer", "worker"],
        {
            "SWITCHBOARD_LOG__LEVEL": "WARNING",
            "SWITCHBOARD_HTTP__PORT": str(worker_port),
            "SWITCHBOARD_DATABASE": database,
            "SWITCHBOARD_REDIS_PREFIX": prefix,
            "SWITCHBOARD_CONSUMER__GROUP_ID": group,
            "SWITCHBOARD_INGRESS_PUBLIC_URL": f"http://127.0.0.1:{ingress_port}",
            "SWITCHBOARD_TWILIO__API_BASE_URL": f"http://127.0.0.1:{sim_port}",
            **config_env,
            "SWITCHBOARD_WINDOW__START": "00:00",
            "SWITCHBOARD_WINDOW__END": "23:59:59",
            "SWITCHBOARD_WORKER__MAX_PENDING_PLACEMENTS": "5000",
            # Only the terminal callback: one ingress process on the shared 2 cores could not
            # also carry the three progress callbacks of 200 calls/s next to everything else.
            "SWITCHBOARD_TWILIO__STATUS_CALLBACK_EVENTS": '["completed"]',
        },
        worker_port,
        logdir,
    )
    return [sim, ingress, worker]


async def load_campaign(
    pool: "asyncpg.Pool[asyncpg.Record]", n: int, cps: float, cap: int
) -> Campaign:
    store = PostgresCampaignStore(pool)
    cfg = CampaignConfig(
        caller_ids=["+12125550100", "+14155550100"],
        twiml="<Response><Say>Hello</Say></Response>",
        window=ALL_DAY,
        max_attempts=1,
        retry_delays=RetryDelays(busy=0, no_answer=0, failed=0, machine=0),
    )
    campaign = await store.create_campaign(
        Campaign(uuid.uuid4(), "bench", "soak", "draft", ACCOUNT, cps, cap, cfg)
    )
    phones = [line.split(",")[0] for line in csv_rows(n).decode().splitlines()[1:]]
    async with store.contact_loader(campaign, 10) as loader:
        for start in range(0, n, 50_000):
            chunk = phones[start : start + 50_000]
            await loader.add(
                [(start + i + 2, p, "America/New_York", None) for i, p in enumerate(chunk)]
            )
        accepted, _, _ = await loader.finish()
    assert accepted == n, accepted
    return campaign


async def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    pg = CommonSettings().postgres
    database, prefix = unique("dialer_soak"), unique("dialer_soak")
    await asyncio.to_thread(migrate, pg, database)
    logdir = Path(tempfile.mkdtemp(prefix="dialer-soak-"))
    group = await fresh_group(CommonSettings().kafka, "dialer-soak", (CALL_EVENTS, MESSAGE_INBOUND))
    config_env = await asyncio.to_thread(
        seeded_config_env, CommonSettings().kafka, bench_entities(args.cps, args.cap)
    )
    procs = processes(logdir, database, prefix, group, args, config_env)
    pool = await asyncpg.create_pool(pg.dsn(database), min_size=1, max_size=4)
    try:
        for p in procs:
            await asyncio.to_thread(
                p.wait_ready, "/health" if p.name == "provider-sim" else "/ready"
            )
        campaign = await load_campaign(pool, args.contacts, args.cps, args.cap)
        print(
            f"soak: {args.contacts} contacts at {args.cps} calls/s, cap {args.cap}; logs {logdir}"
        )
        store = PostgresCampaignStore(pool)
        now = datetime.now(UTC)
        await store.apply_command(
            "bench", campaign.id, "start", outbox.command(campaign.id, "bench", "start", None, now)
        )
        started = time.monotonic()
        deadline = started + args.contacts / args.cps * 1.5 + 300
        if args.max_seconds:
            deadline = min(deadline, started + args.max_seconds)
        while True:
            done = await pool.fetchval(
                "SELECT count(*) FROM contacts WHERE campaign_id = $1 AND state = 'done'",
                campaign.id,
            )
            elapsed = time.monotonic() - started
            print(f"  {elapsed:7.0f} s  done {done:>7} / {args.contacts}", flush=True)
            if done >= args.contacts or time.monotonic() > deadline:
                break
            await asyncio.sleep(10)
        if done < args.contacts:  # stopped early: pause, let the calls under way end
            now = datetime.now(UTC)
            await store.apply_command(
                "bench",
                campaign.id,
                "pause",
                outbox.command(campaign.id, "bench", "pause", None, now),
            )
            await asyncio.sleep(SETTLE_S)
        wall_s = time.monotonic() - started
        placed = [
            r["placed_at"].timestamp()
            for r in await pool.fetch(
                "SELECT placed_at FROM attempts WHERE campaign_id = $1 AND placed_at IS NOT NULL",
                campaign.id,
            )
        ]
        attempts = await pool.fetchval(
            "SELECT count(*) FROM attempts WHERE campaign_id = $1 AND call_sid IS NOT NULL",
            campaign.id,
        )
        sim_url = procs[0].url
        async with httpx.AsyncClient(base_url=sim_url, timeout=120) as sim:
            summary = (await sim.get("/_sim/calls/summary")).json()
            limits = (await sim.get("/_sim/limits")).json()[ACCOUNT]
            metrics = (await sim.get(f"{procs[2].url}/metrics")).text
        errors = {
            line.split('kind="')[1].split('"')[0]: float(line.rsplit(" ", 1)[1])
            for line in metrics.splitlines()
            if line.startswith("switchboard_dialer_place_errors_total{")
        }
        print(f"place errors by kind: {errors}; simulator: {limits}")
    finally:
        await pool.close()
        for p in reversed(procs):
            p.stop()
        await cleanup(pg, database, prefix)
    achieved = rate(placed) if len(placed) > 1 else 0.0
    breaches = sum(int(v) for v in limits["breaches"].values())
    extra = {
        "contacts": args.contacts,
        "contacts_done": int(done),
        "wall_s": round(wall_s, 1),
        "attempts_recorded": int(attempts),
        "simulator_calls": summary["calls"],
        "numbers_called_twice_or_more": summary["repeated_numbers"],
        "simulator_breaches": limits["breaches"],
        "place_errors_by_kind": errors,
        "time_scale": args.time_scale,
    }
    rows = [
        result(
            (
                f"whole {args.contacts}-contact campaign"
                if int(done) >= args.contacts
                else f"{args.contacts}-contact campaign, first {args.max_seconds:.0f} s"
            )
            + f": achieved calls/s at {args.cps:g} configured",
            achieved,
            "calls/s",
            args.cps,
            "configured rate",
            {**extra, "target": "within 2 %"},
        ),
        result(
            "double dials (numbers the simulator saw called more than once)",
            summary["repeated_numbers"],
            "numbers",
            0,
            "none allowed",
            {"calls_vs_attempts": [summary["calls"], int(attempts)]},
        ),
        result(
            "simulator limit breaches",
            breaches,
            "breaches",
            0,
            "none allowed",
            {"breaches": limits["breaches"]},
        ),
        result(
            "busiest second at the simulator (calls created in any 1 s window)",
            limits["max_observed_cps"],
            "calls",
            args.cps,
            "configured rate",
            # Arrival times as the simulator saw them: its own lag on a saturated box bunches
            # them too, so this bounds what a carrier would see rather than the pacer's spacing.
            {"simulator_cps_limit": args.cps * args.sim_cps_factor},
        ),
        result(
            f"peak live calls vs cap {args.cap}",
            limits["max_observed_active_calls"],
            "calls",
            args.cap,
            "configured cap",
            {"target": "never above"},
        ),
    ]
    return [{**r, "command": COMMAND} for r in rows]


async def cleanup(pg: PostgresSettings, database: str, prefix: str) -> None:
    await asyncio.to_thread(drop_database, pg, database)
    client = aioredis.from_url(DialerSettings().redis.url.get_secret_value())
    keys = [k async for k in client.scan_iter(f"{prefix}:*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=300_000)
    parser.add_argument("--cps", type=float, default=200.0)
    parser.add_argument("--cap", type=int, default=1000)
    parser.add_argument("--time-scale", type=float, default=0.02)
    parser.add_argument(
        "--sim-cps-factor",
        type=float,
        default=4.0,
        help="the simulator's calls/s limit as a multiple of --cps (breaches count above it)",
    )
    parser.add_argument(
        "--max-seconds",
        type=float,
        default=0,
        help="stop (pause) after this long; 0: run to the end",
    )
    args = parser.parse_args()
    results = asyncio.run(run(args))
    # Runs of different sizes sit side by side; a rerun replaces its own rows only.
    write_rows(RESULTS, results, replaces=lambda r: r.get("command") == COMMAND)
    print("\n| metric | value | baseline | ratio |\n| --- | --- | --- | --- |")
    for r in results:
        print(f"| {r['metric']} | {r['value']} {r['unit']} | {r['baseline']} | {r['ratio']} |")


if __name__ == "__main__":
    main()
