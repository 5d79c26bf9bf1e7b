"""Issue 15's "Done when" on the real servers: on a Twilio account shared by tenants A and B,
A's campaign callbacks and A's customers' STOP go to A. The real dialer worker places A's
campaign on the provider simulator, whose signed status callbacks go through the real ingress
(tenant from the number the call came from) and Kafka back to the dialer; STOP replies to A's
and B's numbers land on each one's own do-not-call list."""

import asyncio
import json
import uuid
from datetime import time

import httpx
import pytest
from litestar.testing import AsyncTestClient
from pydantic import AnyHttpUrl, SecretStr

from switchboard.common.config import Channel, PlanLimits, Tenant, TwilioAccount
from switchboard.common.events import decode
from switchboard.common.testing import (
    ConfigPublisher,
    config_env,
    config_settings,
    end_offsets,
    eventually,
    read_records,
    twilio_signature,
    unique,
)
from switchboard.common.topics import CALL_EVENTS
from switchboard.dialer import outbox
from switchboard.dialer.adapters.postgres import PostgresCampaignStore
from switchboard.dialer.app import create_worker
from switchboard.dialer.models import CallingWindow, CampaignConfig
from switchboard.dialer.repository import Campaign
from switchboard.dialer.settings import WindowSettings

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

SHARED = "AC" + uuid.uuid4().hex
TOKEN = "shared-account-auth-token"
A_NUMBER, B_NUMBER = "+12125550100", "+13125550100"
CONTACTS = ("+14155550001", "+14155550002", "+14155550003")
ALL_DAY = CallingWindow(start=time(0), end=time(23, 59, 59))


def control_plane() -> list:
    plan = PlanLimits(calls_per_second=20, concurrent_calls=10)
    return [
        Tenant(id="tenant-a", name="A", limits=plan),
        Tenant(id="tenant-b", name="B", limits=plan),
        TwilioAccount(
            id=SHARED,
            tenants=("tenant-a", "tenant-b"),
            auth_tokens=(SecretStr(TOKEN),),
            cps=20,
            max_concurrent=10,
        ),
        Channel(kind="phone", id=A_NUMBER, tenant="tenant-a", account_id=SHARED),
        Channel(kind="phone", id=B_NUMBER, tenant="tenant-b", account_id=SHARED),
    ]


async def test_on_a_shared_account_a_campaigns_callbacks_and_stops_go_to_a(
    services, port, settings, pool, kafka_settings, tmp_path
) -> None:
    config = config_settings()
    async with ConfigPublisher(kafka_settings, config) as control:
        await control.put(*control_plane())
    sim_port, ingress_port = port(), port()
    sim = services(
        "provider-sim",
        ["switchboard.providersim", "serve"],
        {
            "SWITCHBOARD_SIM__PORT": str(sim_port),
            "SWITCHBOARD_SIM__TIME_SCALE": "0.01",
            "SWITCHBOARD_SIM__SEED": "3",
            "SWITCHBOARD_SIM__TWILIO_ACCOUNTS": json.dumps(
                {SHARED: {"auth_token": TOKEN, "cps": 50, "max_concurrent_calls": 100}}
            ),
            "SWITCHBOARD_SIM__OUTCOMES__RING_S": "[1, 2]",
            "SWITCHBOARD_SIM__OUTCOMES__TALK_MEAN_S": "5",
            "SWITCHBOARD_SIM__OUTCOMES__TALK_MAX_S": "10",
        },
        sim_port,
    )
    ingress = services(
        "ingress",
        ["switchboard.ingress", "serve"],
        {
            "SWITCHBOARD_HTTP__PORT": str(ingress_port),
            "SWITCHBOARD_HTTP__PUBLIC_BASE_URL": f"http://127.0.0.1:{ingress_port}",
            "SWITCHBOARD_SPOOL__DIRECTORY": str(tmp_path / "spool"),
            **config_env(config),
        },
        ingress_port,
    )
    await asyncio.to_thread(sim.wait_ready, "/health")
    await asyncio.to_thread(ingress.wait_ready)

    settings.config = config
    settings.consumer.group_id = unique("dialer_shared")
    settings.consumer.auto_offset_reset = "latest"
    settings.worker.idle_poll_s = 0.2
    settings.window = WindowSettings(start=time(0), end=time(23, 59, 59))
    settings.twilio.api_base_url = AnyHttpUrl(sim.url)
    settings.twilio.callback_overrides = ""
    settings.ingress_public_url = AnyHttpUrl(ingress.url)
    start = await end_offsets(kafka_settings, CALL_EVENTS)
    store = PostgresCampaignStore(pool)
    # A campaign of each tenant on the shared account, from each one's own number.
    campaigns = {
        "tenant-a": await _campaign(store, "tenant-a", A_NUMBER, CONTACTS[:2]),
        "tenant-b": await _campaign(store, "tenant-b", B_NUMBER, CONTACTS[2:]),
    }

    async with AsyncTestClient(app=create_worker(settings)) as worker:

        async def ready() -> bool:
            return (await worker.get("/ready")).status_code == 200

        await eventually(ready, timeout_s=90)
        for tenant, campaign in campaigns.items():
            await store.apply_command(
                tenant,
                campaign.id,
                "start",
                outbox.command(campaign.id, tenant, "start", None, _now()),
            )

        async def settled() -> bool:
            done = await pool.fetchval("SELECT count(*) FROM contacts WHERE state = 'done'")
            return done == len(CONTACTS)

        # Settled by the final callbacks: sim → ingress → call.events → this worker.
        await eventually(settled, timeout_s=180, interval_s=0.5)
        tenant_of_call = {
            r["call_sid"]: r["tenant_id"]
            for r in await pool.fetch(
                "SELECT a.call_sid, c.tenant_id FROM attempts a "
                "JOIN campaigns c ON c.id = a.campaign_id"
            )
        }
        sids = set(tenant_of_call)
        records = await read_records(
            kafka_settings,
            CALL_EVENTS,
            start,
            until=lambda rs: _statuses(rs, sids) >= len(sids),
        )
        seen = {
            (r.key.decode(), decode(r.headers, r.value).tenant)
            for r in records
            if r.key is not None and r.key.decode() in sids
        }
        # Every event of each call (the callbacks, and the dialer's own call.placed) is its
        # campaign's tenant's, though both came in on the same account.
        assert seen == set(tenant_of_call.items())
        assert set(tenant_of_call.values()) == {"tenant-a", "tenant-b"}

        # A's customer answers STOP to A's number; B's customer to B's number.
        async with httpx.AsyncClient(base_url=ingress.url, timeout=30) as client:
            for customer, number in ((CONTACTS[0], A_NUMBER), ("+14155550999", B_NUMBER)):
                answer = await _sms(client, ingress.url, customer, number, "STOP")
                assert answer.status_code == 200, answer.text

        async def opted_out() -> bool:
            rows = await pool.fetch("SELECT tenant_id, phone FROM dnc ORDER BY tenant_id")
            return len(rows) == 2

        await eventually(opted_out, timeout_s=90, interval_s=0.5)
        rows = await pool.fetch("SELECT tenant_id, phone FROM dnc ORDER BY tenant_id")
        assert [(r["tenant_id"], r["phone"]) for r in rows] == [
            ("tenant-a", CONTACTS[0]),
            ("tenant-b", "+14155550999"),
        ]


async def _campaign(
    store: PostgresCampaignStore, tenant: str, number: str, contacts: tuple[str, ...]
) -> Campaign:
    cfg = CampaignConfig(
        caller_ids=[number],
        twiml="<Response><Say>Hi</Say></Response>",
        window=ALL_DAY,
        max_attempts=1,  # one call each: every contact is done at its final callback
    )
    campaign = await store.create_campaign(
        Campaign(uuid.uuid4(), tenant, "shared", "draft", SHARED, 10.0, 5, cfg)
    )
    async with store.contact_loader(campaign, 10) as loader:
        await loader.add([(i + 2, p, "America/New_York", None) for i, p in enumerate(contacts)])
        await loader.finish()
    return campaign


async def _sms(
    client: httpx.AsyncClient, ingress: str, customer: str, number: str, body: str
) -> httpx.Response:
    """An inbound SMS as Twilio posts it, signed with the shared account's token."""
    url = f"{ingress}/webhooks/twilio/messaging"
    form = {
        "MessageSid": "SM" + uuid.uuid4().hex,
        "AccountSid": SHARED,
        "From": customer,
        "To": number,
        "Body": body,
        "NumMedia": "0",
    }
    signature = twilio_signature(url, form, TOKEN)
    return await client.post(url, data=form, headers={"X-Twilio-Signature": signature})


def _statuses(records, sids: set[str]) -> int:
    """Calls among ``sids`` whose final status event has been read."""
    ended = set()
    for r in records:
        if r.key is None or r.key.decode() not in sids:
            continue
        data = decode(r.headers, r.value).data
        status = getattr(data, "status", None)
        if status is not None and status.is_terminal:
            ended.add(r.key.decode())
    return len(ended)


def _now():
    from datetime import UTC, datetime

    return datetime.now(UTC)
