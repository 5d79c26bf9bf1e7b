"""``switchboard-provider-sim demo``: thousands of signed call callbacks through the real stack.

Creates calls through the simulator's Twilio REST API with ``StatusCallback`` = the ingress,
lets their lifecycles run (with duplicate and out-of-order delivery switched on, and a few
final callbacks lost), and shows live progress: callbacks acknowledged by the ingress, calls
stored by history (its PostgreSQL ``calls`` table) and calls closed by history's reconciler
(it fetches the end of a call whose final callback never came from the provider: here the
simulator). Ends with a summary: distinct events sent vs stored (must match), webhook latency
p50/p99, duplicates dropped, calls the reconciler closed. Exit status 1 when history does not
match.
"""

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import asyncpg
import httpx
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from switchboard.common.settings import PostgresSettings
from switchboard.providersim.app import create_app
from switchboard.providersim.demo_campaign import CampaignDemo, campaign_table, run_campaign
from switchboard.providersim.demo_conversation import (
    ConversationDemo,
    conversation_table,
    run_conversation,
)
from switchboard.providersim.demo_counts import (
    Delivered,
    rows_of,
    twilio_delivered,
    whatsapp_delivered,
)
from switchboard.providersim.demo_voice import VoiceDemo, run_voice, voice_table
from switchboard.providersim.server import ThreadServer
from switchboard.providersim.settings import LOCAL_ACCOUNT, LOCAL_TOKEN, SimSettings
from switchboard.providersim.state import TERMINAL_CALL_STATUSES
from switchboard.providersim.webhooks import FORM

INGRESS_PATH = "/webhooks/twilio/voice/status"
WHATSAPP_PATH = "/webhooks/whatsapp"
ALL_EVENTS = ("initiated", "ringing", "answered", "completed")
CALLBACKS_PER_OUTCOME = {"completed": 4, "busy": 3, "no-answer": 3, "failed": 2}
POLL_S = 0.25
DISTINCT_SENT = "twilio.call.status.distinct"
CREATE_CONCURRENCY = 20


@dataclass(frozen=True, slots=True)
class DemoOptions:
    """What the demo runs against and how hard."""

    calls: int = 1000
    ingress_url: str = "http://127.0.0.1:8000"
    sim_url: str | None = None
    """An already running simulator; ``None`` starts one in this process."""
    account_sid: str = LOCAL_ACCOUNT
    auth_token: str = LOCAL_TOKEN
    caller_id: str = "+15005550006"
    """The number the calls come from (the account's number on the control plane)."""
    database: str = "history"
    duplicate_rate: float = 0.1
    out_of_order_rate: float = 0.1
    drop_final_rate: float = 0.02
    """Share of calls whose final callback is never sent: history's reconciler must close
    them (make up points it at the simulator, with a grace of seconds)."""
    time_scale: float = 0.01
    cps: float = 20.0
    """Calls per second; each sends ~3.6 callbacks, so 20 CPS ≈ 70 webhooks/s."""
    timeout_s: float = 300.0
    whatsapp_messages: int = 300
    """Inbound WhatsApp messages sent (batched like Meta) after the calls; 0 skips them."""
    whatsapp_app_secret: str = "local-app-secret"  # noqa: S105 - the local default app secret
    conversation: ConversationDemo | None = None
    """An AI-answered WhatsApp conversation after the messages (needs the AI service)."""
    campaign: CampaignDemo | None = None
    """A dialer campaign after the messages (needs the simulator the dialer calls)."""
    voice: VoiceDemo | None = None
    """A live Vapi call answered from a restaurant's knowledge (needs the AI voice API)."""


@dataclass(frozen=True, slots=True)
class Stored:
    """What history holds of the demo's calls."""

    calls: int
    settled: int
    """Calls in their final state (the simulator's, once every call has ended)."""
    events: int
    reconciled: int
    """Calls closed by the reconciler (their final state fetched from the provider)."""


@contextlib.asynccontextmanager
async def _simulator(options: DemoOptions) -> AsyncIterator[str]:
    """The simulator's URL: the given one, or one served from a thread of this process."""
    if options.sim_url:
        yield options.sim_url.rstrip("/")
        return
    server = await asyncio.to_thread(ThreadServer(create_app(SimSettings())).start)
    try:
        yield server.url
    finally:
        await asyncio.to_thread(server.stop)


async def _create_calls(
    sim: httpx.AsyncClient, options: DemoOptions, run_id: str
) -> list[dict[str, Any]]:
    semaphore = asyncio.Semaphore(CREATE_CONCURRENCY)
    path = f"/2010-04-01/Accounts/{options.account_sid}/Calls.json"
    callback = options.ingress_url.rstrip("/") + INGRESS_PATH

    async def one(i: int) -> dict[str, Any]:
        form = [
            ("To", f"+1555{i:07d}"),
            ("From", options.caller_id),
            ("Url", f"http://demo.invalid/{run_id}"),
            ("StatusCallback", callback),
            *(("StatusCallbackEvent", e) for e in ALL_EVENTS),
        ]
        async with semaphore:
            response = await sim.post(path, content=urlencode(form), headers={"Content-Type": FORM})
        response.raise_for_status()
        return dict(response.json())

    return list(await asyncio.gather(*(one(i) for i in range(options.calls))))


RECONCILED_SQL = (
    "SELECT count(DISTINCT call_id) FROM call_events"
    " WHERE call_id = ANY($1) AND data->'raw'->>'reconciled' = 'true'"
)
"""The reconciler's events say so in their raw payload (history's reconciler.py)."""


async def _history_counts(pool: asyncpg.Pool, sids: list[str], expected: dict[str, str]) -> Stored:
    """What history holds of the demo's calls."""
    async with pool.acquire() as conn:
        rows = await conn.fetch("SELECT call_id, status FROM calls WHERE call_id = ANY($1)", sids)
        events = await conn.fetchval(
            "SELECT count(*) FROM call_events WHERE call_id = ANY($1)", sids
        )
        reconciled = await conn.fetchval(RECONCILED_SQL, sids)
    if expected:
        settled = sum(1 for r in rows if expected.get(r["call_id"]) == r["status"])
    else:  # calls still running: count those history already shows ended
        settled = sum(1 for r in rows if r["status"] in TERMINAL_CALL_STATUSES)
    return Stored(len(rows), settled, int(events), int(reconciled))


async def run_demo(options: DemoOptions, postgres: PostgresSettings, console: Console) -> bool:
    """Run the scenario; ``True`` when history holds exactly the simulator's calls and events."""
    run_id = uuid.uuid4().hex[:8]
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per webhook otherwise
    pool = await asyncpg.create_pool(postgres.dsn(options.database), min_size=1, max_size=2)
    try:
        async with (
            _simulator(options) as sim_url,
            httpx.AsyncClient(
                base_url=sim_url, auth=(options.account_sid, options.auth_token), timeout=30
            ) as sim,
        ):
            (await sim.post("/_sim/reset", json=_sim_config(options))).raise_for_status()
            console.print(
                f"[bold]demo {run_id}[/]: {options.calls} calls via {sim_url} → "
                f"{options.ingress_url} → Kafka → history ({options.database})"
            )
            started = time.monotonic()
            created = await _create_calls(sim, options, run_id)
            sids = [c["sid"] for c in created]
            plans = {c["sid"]: c for c in (await sim.get("/_sim/calls")).json()}
            expected_events = sum(CALLBACKS_PER_OUTCOME[plans[s]["plan"]["outcome"]] for s in sids)
            ok, stats, stored = await _watch(sim, pool, sids, expected_events, options, console)
            messages = await _whatsapp(sim, pool, options, console)
            delivered = [await twilio_delivered(sim, pool, sids)]
            if options.whatsapp_messages > 0:
                delivered.append(await whatsapp_delivered(sim, pool))
            stats = (await sim.get("/_sim/stats")).json()
            elapsed = time.monotonic() - started
            _summary(console, options, stats, stored, expected_events, elapsed, messages, delivered)
            ok = ok and messages[0] == messages[1] and all(_exact(d) for d in delivered)
            if options.conversation is not None:
                talk = await run_conversation(options.conversation, sim, console)
                console.print(conversation_table(talk))
                ok = ok and talk.ok
            if options.voice is not None:
                heard = await run_voice(options.voice, sim, console)
                console.print(voice_table(heard))
                ok = ok and heard.ok
            if options.campaign is not None:
                # A clean slate, so the simulator's peak-live and breach counters are the
                # campaign's own.
                config = {**_sim_config(options), "time_scale": options.campaign.time_scale}
                (await sim.post("/_sim/reset", json=config)).raise_for_status()
                result = await run_campaign(options.campaign, sim, pool, console)
                console.print(campaign_table(result, options.campaign))
                console.print(
                    "[green]campaign done: every contact settled, no limit breached, "
                    "every call stored[/]"
                    if result.ok
                    else "[red]campaign MISMATCH[/]"
                )
                ok = ok and result.ok
    finally:
        await pool.close()
    return ok


def _sim_config(options: DemoOptions) -> dict[str, Any]:
    return {
        "time_scale": options.time_scale,
        "twilio_accounts": {
            options.account_sid: {
                "auth_token": options.auth_token,
                "cps": options.cps,
                "queue_size": max(100, options.calls),
                "max_concurrent_calls": max(1000, options.calls),
            }
        },
        "faults": {
            "duplicate_rate": options.duplicate_rate,
            "out_of_order_rate": options.out_of_order_rate,
            "drop_final_rate": options.drop_final_rate,
        },
        "whatsapp": {
            "webhook_url": options.ingress_url.rstrip("/") + WHATSAPP_PATH,
            "app_secret": options.whatsapp_app_secret,
        },
    }


async def _whatsapp(
    sim: httpx.AsyncClient, pool: asyncpg.Pool, options: DemoOptions, console: Console
) -> tuple[int, int]:
    """Signed, batched inbound WhatsApp messages through the ingress: (sent, stored)."""
    if options.whatsapp_messages <= 0:
        return 0, 0
    started = await sim.post(
        "/_sim/scenarios/whatsapp",
        json={"count": options.whatsapp_messages, "users": 50, "rate": 0, "text": "hello"},
    )
    started.raise_for_status()
    deadline = time.monotonic() + options.timeout_s
    with Progress(console=console) as progress:
        task = progress.add_task("whatsapp messages stored", total=options.whatsapp_messages)
        while True:
            inbound = (await sim.get("/_sim/messages")).json()["whatsapp_inbound"]
            ids = [m["id"] for m in inbound]
            async with pool.acquire() as conn:
                stored = int(
                    await conn.fetchval(
                        "SELECT count(DISTINCT message_id) FROM messages"
                        " WHERE message_id = ANY($1)",
                        ids,
                    )
                )
            progress.update(task, completed=stored)
            if (len(ids) >= options.whatsapp_messages and stored >= len(ids)) or (
                time.monotonic() > deadline
            ):
                return len(ids), stored
            await asyncio.sleep(POLL_S)


async def _watch(
    sim: httpx.AsyncClient,
    pool: asyncpg.Pool,
    sids: list[str],
    expected_events: int,
    options: DemoOptions,
    console: Console,
) -> tuple[bool, dict[str, Any], Stored]:
    columns = (
        TextColumn("{task.description:<28}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    deadline = time.monotonic() + options.timeout_s
    expected: dict[str, str] = {}
    with Progress(*columns, console=console) as progress:
        sent_bar = progress.add_task("callbacks sent (distinct)", total=expected_events)
        ack_bar = progress.add_task("acknowledged by ingress", total=expected_events)
        stored_bar = progress.add_task("events stored in history", total=expected_events)
        calls_bar = progress.add_task("calls in final state", total=len(sids))
        # Known once every call has ended (the simulator counts the callbacks it dropped).
        reconciled_bar = progress.add_task("closed by the reconciler", total=None)
        while True:
            stats = (await sim.get("/_sim/stats")).json()
            idle = stats["pending_tasks"] == 0
            if idle and not expected:  # every call has ended: its final state is known
                calls = (await sim.get("/_sim/calls")).json()
                expected.update({c["sid"]: c["status"] for c in calls})
            counters = stats["counters"]
            stored = await _history_counts(pool, sids, expected)
            distinct_sent = int(counters.get(DISTINCT_SENT, 0))
            progress.update(sent_bar, completed=min(expected_events, distinct_sent))
            progress.update(
                ack_bar,
                completed=counters.get("twilio.call.status.acknowledged.distinct", 0),
            )
            progress.update(stored_bar, completed=stored.events)
            progress.update(calls_bar, completed=stored.settled)
            lost = int(counters.get("webhook.dropped", 0)) if idle else None
            progress.update(reconciled_bar, completed=stored.reconciled, total=lost)
            # A call whose final callback was lost is stored with the reconciler's event in
            # its place: as many events as planned.
            done = idle and stored.settled == len(sids) and stored.events == expected_events
            if done or time.monotonic() > deadline:
                return done, stats, stored
            await asyncio.sleep(POLL_S)


def _summary(
    console: Console,
    options: DemoOptions,
    stats: dict[str, Any],
    stored: Stored,
    expected_events: int,
    elapsed: float,
    messages: tuple[int, int] = (0, 0),
    delivered: list[Delivered] | None = None,
) -> None:
    counters = stats["counters"]
    latency = stats["webhook_latency_ms"]
    table = Table(title="provider-sim demo")
    table.add_column("measure")
    table.add_column("value", justify="right")
    lost = int(counters.get("webhook.dropped", 0))
    rows = [
        ("calls created", str(options.calls)),
        ("distinct status events sent", str(counters.get(DISTINCT_SENT, 0))),
        ("final callbacks lost / closed by the reconciler", f"{lost} / {stored.reconciled}"),
        ("events stored in history", str(stored.events)),
        ("calls stored / in final state", f"{stored.calls} / {stored.settled}"),
        # Per event, from the simulator's delivery records and history's rows:
        *rows_of(delivered or []),
        ("calls delivered out of order", str(counters.get("webhook.reordered", 0))),
        ("failed deliveries", str(counters.get("webhook.failed", 0))),
        ("webhook latency p50 / p99 (ms)", f"{_ms(latency['p50'])} / {_ms(latency['p99'])}"),
        ("whatsapp messages sent / stored", f"{messages[0]} / {messages[1]}"),
        ("elapsed (s)", f"{elapsed:.1f}"),
    ]
    for name, value in rows:
        table.add_row(name, value)
    console.print(table)
    verdict = (
        stored.events == expected_events
        and stored.settled == options.calls
        and messages[0] == messages[1]
        and all(_exact(d) for d in delivered or [])
    )
    console.print(
        "[green]events sent == events stored[/]"
        if verdict
        else "[red]MISMATCH: history does not hold exactly the simulator's events[/]"
    )


def _exact(delivered: Delivered) -> bool:
    """Every acknowledged event stored once: none missing, no duplicate row."""
    return delivered.missing == 0 and delivered.duplicates_stored == 0


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"
