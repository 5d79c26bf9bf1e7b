"""The demo's outbound campaign: the dialer's API creates a small campaign, uploads its
contacts as CSV and starts it; the dialer calls them on the simulator under its pace and
concurrency limits, and the simulator's signed callbacks come back through the ingress.

A live bar follows ``GET /v1/campaigns/{id}``; the summary compares what the dialer reports
with what the simulator saw (calls created, peak live calls, limit breaches) and with the
calls history stored for the campaign.
"""

import asyncio
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final
from zoneinfo import ZoneInfo

import asyncpg
import httpx
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from switchboard.common.auth import Audience
from switchboard.providersim.tokens import TokenSource

# Zones tried in order for the contacts' ``time_zone`` column: the first where it is now
# between 09:00 and 19:00 keeps the demo inside the dialer's default 08:00-21:00 window.
ZONES: Final = (
    "America/New_York",
    "America/Los_Angeles",
    "Europe/London",
    "Europe/Berlin",
    "Asia/Kolkata",
    "Asia/Tokyo",
    "Australia/Sydney",
    "Pacific/Auckland",
    "Pacific/Honolulu",
)
CALLER_IDS: Final = ["+12125550100", "+13125550100", "+14155550100"]
POLL_S: Final = 0.5
HISTORY_WAIT_S: Final = 30.0


@dataclass(frozen=True, slots=True)
class CampaignDemo:
    dialer_url: str
    tokens: TokenSource
    contacts: int = 40
    cps: float = 5.0
    max_concurrent: int = 20
    time_scale: float = 0.1
    """Slower than the calls demo: calls last long enough for the concurrency cap to bind."""
    timeout_s: float = 300.0
    account_sid: str | None = None
    """The Twilio account to call with (None: the only one the tenant holds)."""


@dataclass(frozen=True, slots=True)
class CampaignResult:
    contacts: int
    progress: dict[str, Any]
    provider_calls: int
    peak_live: int
    breaches: dict[str, int]
    stored_in_history: int
    elapsed_s: float

    @property
    def ok(self) -> bool:
        return (
            self.progress["done"] == self.contacts
            and self.provider_calls == self.progress["attempts"]
            and not any(self.breaches.values())
            and self.stored_in_history == self.provider_calls
        )


def zone_in_hours(now: datetime) -> str:
    """A zone where ``now`` is between 09:00 and 19:00 local time (there is always one)."""
    for name in ZONES:
        if 9 <= now.astimezone(ZoneInfo(name)).hour < 19:
            return name
    raise AssertionError("no zone in calling hours")  # ZONES spans every 10-hour stretch


def contacts_csv(count: int, zone: str) -> str:
    rows = ["phone,time_zone,name"]
    rows += [f"+1646555{i:04d},{zone},Guest {i}" for i in range(count)]
    return "\n".join(rows) + "\n"


async def run_campaign(
    demo: CampaignDemo,
    sim: httpx.AsyncClient,
    history: asyncpg.Pool,
    console: Console,
) -> CampaignResult:
    headers = await demo.tokens.bearer(Audience.DIALER)
    zone = zone_in_hours(datetime.now(UTC))
    async with httpx.AsyncClient(base_url=demo.dialer_url, headers=headers, timeout=30) as api:
        created = await api.post(
            "/v1/campaigns",
            json={
                "name": "demo",
                "caller_ids": CALLER_IDS,
                "twiml": "<Response><Say>Hello $name, this is Switchboard.</Say></Response>",
                "max_attempts": 2,
                "retry_delays": {"busy": 2, "no_answer": 2, "failed": 2, "machine": 2},
                "amd": {"enabled": True, "on_machine": "hangup"},
                "cps": demo.cps,
                "max_concurrent": demo.max_concurrent,
                **({"account_sid": demo.account_sid} if demo.account_sid else {}),
            },
        )
        created.raise_for_status()
        campaign = created.json()
        cid = campaign["id"]
        upload = await api.post(
            f"/v1/campaigns/{cid}/contacts",
            content=contacts_csv(demo.contacts, zone),
            headers={"Content-Type": "text/csv"},
        )
        upload.raise_for_status()
        console.print(
            f"[bold]campaign {cid}[/]: {upload.json()['accepted']} contacts ({zone}), "
            f"{campaign['cps']} calls/s, at most {campaign['max_concurrent']} live"
        )
        started = time.monotonic()
        (await api.post(f"/v1/campaigns/{cid}/start")).raise_for_status()
        progress = await _follow(api, cid, demo, console)
        elapsed = time.monotonic() - started
    calls = [c for c in (await sim.get("/_sim/calls")).json() if c["from"] in CALLER_IDS]
    limits = (await sim.get("/_sim/limits")).json().get(campaign["account_sid"], {})
    stored = await _stored_in_history(history, cid, len(calls))
    return CampaignResult(
        contacts=demo.contacts,
        progress=progress,
        provider_calls=len(calls),
        peak_live=int(limits.get("max_observed_active_calls", 0)),
        breaches={k: int(v) for k, v in limits.get("breaches", {}).items()},
        stored_in_history=int(stored),
        elapsed_s=elapsed,
    )


async def _stored_in_history(history: asyncpg.Pool, cid: str, expected: int) -> int:
    """The campaign's calls in history, once the last callbacks had time to arrive."""
    deadline = time.monotonic() + HISTORY_WAIT_S
    while True:
        async with history.acquire() as conn:
            stored = int(
                await conn.fetchval("SELECT count(*) FROM calls WHERE campaign_id = $1", cid)
            )
        if stored >= expected or time.monotonic() > deadline:
            return stored
        await asyncio.sleep(POLL_S)


async def _follow(
    api: httpx.AsyncClient, cid: str, demo: CampaignDemo, console: Console
) -> dict[str, Any]:
    """Poll the campaign's progress with a live bar until every contact is done."""
    columns = (
        TextColumn("{task.description:<18}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[detail]}"),
    )
    deadline = time.monotonic() + demo.timeout_s
    with Progress(*columns, console=console) as bar:
        task = bar.add_task("contacts done", total=demo.contacts, detail="")
        while True:
            progress: dict[str, Any] = (await api.get(f"/v1/campaigns/{cid}")).json()
            bar.update(
                task,
                completed=progress["done"],
                detail=f"live {progress['in_flight']:>3}  {progress['calls_per_second']:>4}/s",
            )
            if progress["done"] >= demo.contacts or time.monotonic() > deadline:
                return progress
            await asyncio.sleep(POLL_S)


def campaign_table(result: CampaignResult, demo: CampaignDemo) -> Table:
    p = result.progress
    table = Table(title="dialer campaign")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for name, value in (
        ("contacts done / total", f"{p['done']} / {result.contacts}"),
        ("outcomes", ", ".join(f"{k} {v}" for k, v in sorted(p["outcomes"].items()))),
        ("attempts (dialer) / calls (simulator)", f"{p['attempts']} / {result.provider_calls}"),
        ("peak live calls / cap", f"{result.peak_live} / {demo.max_concurrent}"),
        ("limit breaches seen by the simulator", str(sum(result.breaches.values()))),
        ("campaign calls stored in history", str(result.stored_in_history)),
        ("elapsed (s)", f"{result.elapsed_s:.1f}"),
    ):
        table.add_row(name, value)
    return table
