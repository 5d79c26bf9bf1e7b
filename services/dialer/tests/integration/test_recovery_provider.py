"""Recovery against the provider simulator's Twilio API (real PostgreSQL and Redis): a claim
whose call the provider still holds queued when the claim's lease runs out is found there and
recorded as placed, and the contact is not dialed again. Twilio gives a queued call no
StartTime, so the lookup must not filter on it."""

import asyncio
import json
import uuid
from datetime import UTC, datetime, time, timedelta

import httpx
import pytest
from pydantic import AnyHttpUrl

from switchboard.dialer import outbox
from switchboard.dialer.adapters.postgres import PostgresCampaignStore
from switchboard.dialer.adapters.postgres_dialing import PostgresDialingStore
from switchboard.dialer.adapters.twilio import TwilioCallPlacer
from switchboard.dialer.metrics import CLAIMS_RECOVERED
from switchboard.dialer.models import CallingWindow, CampaignConfig
from switchboard.dialer.repository import Campaign
from switchboard.dialer.settings import WindowSettings
from switchboard.dialer.worker import DialWorker

from .. import fakes

pytestmark = pytest.mark.integration

ACCOUNT = "AC00000000000000000000000000000001"  # the account of the ``settings`` fixture
PHONE = "+12125550001"
ALL_DAY = CallingWindow(start=time(0), end=time(23, 59, 59))


@pytest.fixture
async def sim(services, port):
    sim_port = port()
    process = services(
        "provider-sim",
        ["switchboard.providersim", "serve"],
        {
            "SWITCHBOARD_SIM__PORT": str(sim_port),
            "SWITCHBOARD_SIM__TWILIO_ACCOUNTS": json.dumps(
                {ACCOUNT: {"auth_token": fakes.TOKEN, "cps": 100}}
            ),
            # every call waits an hour in the provider's queue: no StartTime meanwhile
            "SWITCHBOARD_SIM__FAULTS__QUEUE_S": "3600",
        },
        sim_port,
    )
    await asyncio.to_thread(process.wait_ready, "/health")
    async with httpx.AsyncClient(base_url=process.url) as client:
        yield client


async def test_a_call_still_queued_at_the_provider_is_recovered_not_redialed(
    settings, pool, pacer, sim, accounts
) -> None:
    settings.twilio.api_base_url = AnyHttpUrl(str(sim.base_url))
    settings.window = WindowSettings(start=time(0), end=time(23, 59, 59))
    # callbacks: none expected
    placer = TwilioCallPlacer(settings.twilio, "http://127.0.0.1:9", accounts.credentials)
    store = PostgresDialingStore(pool)
    campaigns = PostgresCampaignStore(pool)
    cfg = CampaignConfig(caller_ids=["+13125550100"], twiml="<Response/>", window=ALL_DAY)
    campaign = await campaigns.create_campaign(
        Campaign(uuid.uuid4(), "acme", "queued", "draft", ACCOUNT, 10.0, 10, cfg)
    )
    async with campaigns.contact_loader(campaign, 10) as loader:
        await loader.add([(2, PHONE, "America/New_York", None)])
        await loader.finish()
    now = datetime.now(UTC)
    await campaigns.apply_command(
        "acme", campaign.id, "start", outbox.command(campaign.id, "acme", "start", None, now)
    )
    try:
        # A worker claimed the contact, its request created the call, and it died before
        # recording the answer; its lease has run out while the call waits in the queue.
        [claim] = await store.claim(
            campaign,
            await store.zone_keys(campaign.id),
            now,
            [uuid.uuid4()],
            "dead-worker",
            timedelta(0),
        )
        sid = await placer.place(
            ACCOUNT,
            to=claim.to_number,
            from_=claim.from_number,
            twiml="<Response/>",
            url=None,
            amd=False,
            amd_message_end=False,
        )
        queued = (await sim.get(f"/_sim/calls/{sid}")).json()
        assert queued["status"] == "queued"

        dialer = DialWorker(settings, store, pacer, placer, accounts=accounts, worker_id="survivor")
        recovered = CLAIMS_RECOVERED.labels("placed")
        before = recovered._value.get()
        assert await dialer.recovery.recover_once() == 1
        assert recovered._value.get() == before + 1
        attempt = await pool.fetchrow("SELECT state, call_sid FROM attempts")
        assert tuple(attempt) == ("placed", sid)

        for _ in range(5):  # the dial loop finds nothing due for this contact
            await dialer.loop.step()
            await asyncio.sleep(0.2)
        await dialer.loop.drain()
        calls = [c for c in (await sim.get("/_sim/calls")).json() if c["to"] == PHONE]
        assert [c["sid"] for c in calls] == [sid]
        assert await pool.fetchval("SELECT state FROM contacts") == "dialing"
    finally:
        await placer.close()


async def test_the_lookup_pages_through_the_window_by_creation_time(
    settings, sim, accounts
) -> None:
    settings.twilio.api_base_url = AnyHttpUrl(str(sim.base_url))
    placer = TwilioCallPlacer(settings.twilio, "http://127.0.0.1:9", accounts.credentials)
    to, from_ = "+12125550002", "+13125550100"
    try:
        start = datetime.now(UTC)
        sids = set()
        for _ in range(60):  # more than one page (50)
            sids.add(
                await placer.place(
                    ACCOUNT,
                    to=to,
                    from_=from_,
                    twiml="<Response/>",
                    url=None,
                    amd=False,
                    amd_message_end=False,
                )
            )
        await placer.place(  # another caller id: not this claim's call
            ACCOUNT,
            to=to,
            from_="+13125550199",
            twiml="<Response/>",
            url=None,
            amd=False,
            amd_message_end=False,
        )
        end = datetime.now(UTC)

        async def listed(since: datetime, until: datetime) -> set[str]:
            calls = await placer.calls_to(ACCOUNT, to=to, from_=from_, since=since, until=until)
            assert all(c.status == "queued" for c in calls)
            return {c.sid for c in calls}

        assert await listed(start, end) == sids
        later = end + timedelta(minutes=10)
        assert await listed(later, later + timedelta(minutes=1)) == set()
        earlier = start - timedelta(minutes=10)
        assert await listed(earlier, earlier + timedelta(minutes=1)) == set()
    finally:
        await placer.close()
