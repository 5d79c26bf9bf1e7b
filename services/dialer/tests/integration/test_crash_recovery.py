"""A worker is SIGKILLed mid-campaign against the provider simulator (real ingress, Kafka,
PostgreSQL, Redis); a second worker finishes the campaign. Counted on the provider's side,
every contact was called exactly as often as its outcomes require. A share of the calls'
final callbacks is lost on the way: those calls are settled by asking the provider."""

import asyncio
import json
import uuid
from collections import defaultdict
from datetime import time

import httpx
import pytest
from pydantic import SecretStr

from switchboard.common.config import Channel, PlanLimits, Tenant, TwilioAccount
from switchboard.common.testing import eventually, fresh_group, seeded_config_env, unique
from switchboard.common.topics import CALL_EVENTS, MESSAGE_INBOUND
from switchboard.dialer import outbox
from switchboard.dialer.adapters.postgres import PostgresCampaignStore
from switchboard.dialer.models import CallingWindow, CampaignConfig, RetryDelays
from switchboard.dialer.repository import Campaign

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

ACCOUNT = "AC" + uuid.uuid4().hex
TOKEN = "crash-test-auth-token"
CALLER_IDS = ("+12125550100", "+13125550100")
CONTACTS = 80
MAX_ATTEMPTS = 2


@pytest.fixture
async def redis_prefix(settings):
    import redis.asyncio as aioredis

    prefix = unique("dialer_crash")
    yield prefix
    client = aioredis.from_url(settings.redis.url.get_secret_value())
    keys = [k async for k in client.scan_iter(f"{prefix}:*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


async def test_sigkill_mid_campaign_never_double_dials(
    database, pool, services, port, kafka_settings, tmp_path, redis_prefix
) -> None:
    sim_port, ingress_port = port(), port()
    # The tenant, its account and caller IDs, as the control plane publishes them: the
    # ingress verifies callbacks with them, the dialer places calls under them.
    config_env = await asyncio.to_thread(
        seeded_config_env,
        kafka_settings,
        [
            Tenant(
                id="acme",
                name="Acme",
                limits=PlanLimits(calls_per_second=20, concurrent_calls=15),
            ),
            TwilioAccount(
                id=ACCOUNT,
                tenants=("acme",),
                auth_tokens=(SecretStr(TOKEN),),
                cps=20,
                max_concurrent=15,
            ),
            *(Channel(kind="phone", id=n, tenant="acme", account_id=ACCOUNT) for n in CALLER_IDS),
        ],
    )
    sim = services(
        "provider-sim",
        ["switchboard.providersim", "serve"],
        {
            "SWITCHBOARD_SIM__PORT": str(sim_port),
            "SWITCHBOARD_SIM__TIME_SCALE": "0.02",
            "SWITCHBOARD_SIM__SEED": "7",
            "SWITCHBOARD_SIM__TWILIO_ACCOUNTS": json.dumps(
                {ACCOUNT: {"auth_token": TOKEN, "cps": 20, "max_concurrent_calls": 1000}}
            ),
            "SWITCHBOARD_SIM__OUTCOMES__RING_S": "[1, 4]",
            "SWITCHBOARD_SIM__OUTCOMES__TALK_MEAN_S": "20",
            "SWITCHBOARD_SIM__OUTCOMES__TALK_MAX_S": "40",
            "SWITCHBOARD_SIM__FAULTS__DROP_FINAL_RATE": "0.2",
        },
        sim_port,
    )
    ingress = services(
        "ingress",
        ["switchboard.ingress", "serve"],
        {
            "SWITCHBOARD_HTTP__PORT": str(ingress_port),
            "SWITCHBOARD_HTTP__PUBLIC_BASE_URL": f"http://127.0.0.1:{ingress_port}",
            **config_env,
            "SWITCHBOARD_SPOOL__DIRECTORY": str(tmp_path / "spool"),
        },
        ingress_port,
    )
    group = await fresh_group(kafka_settings, "dialer_crash", (CALL_EVENTS, MESSAGE_INBOUND))
    worker_env = {
        "SWITCHBOARD_DATABASE": database,
        "SWITCHBOARD_REDIS_PREFIX": redis_prefix,
        "SWITCHBOARD_CONSUMER__GROUP_ID": group,
        "SWITCHBOARD_INGRESS_PUBLIC_URL": ingress.url,
        "SWITCHBOARD_TWILIO__API_BASE_URL": sim.url,
        **config_env,
        "SWITCHBOARD_TWILIO__REQUEST_TIMEOUT_S": "2",
        "SWITCHBOARD_WORKER__CLAIM_LEASE_S": "6",
        "SWITCHBOARD_WORKER__RECOVERY_INTERVAL_S": "0.5",
        "SWITCHBOARD_WORKER__STATUS_CHECK_AFTER_S": "5",
        "SWITCHBOARD_WORKER__STATUS_RECHECK_S": "2",
        "SWITCHBOARD_WORKER__IDLE_POLL_S": "0.2",
        "SWITCHBOARD_WINDOW__START": "00:00",
        "SWITCHBOARD_WINDOW__END": "23:59:59",
    }
    await asyncio.to_thread(sim.wait_ready, "/health")
    await asyncio.to_thread(ingress.wait_ready)

    store = PostgresCampaignStore(pool)
    cfg = CampaignConfig(
        caller_ids=list(CALLER_IDS),
        twiml="<Response><Say>Hi</Say></Response>",
        window=CallingWindow(start=time(0), end=time(23, 59, 59)),
        max_attempts=MAX_ATTEMPTS,
        retry_delays=RetryDelays(busy=0, no_answer=0, failed=0, machine=0),
    )
    campaign = await store.create_campaign(
        Campaign(uuid.uuid4(), "acme", "crash", "draft", ACCOUNT, 20.0, 15, cfg)
    )
    phones = [f"+1212555{i:04d}" for i in range(CONTACTS)]
    async with store.contact_loader(campaign, 10) as loader:
        await loader.add([(i + 2, p, "America/New_York", None) for i, p in enumerate(phones)])
        assert (await loader.finish())[0] == CONTACTS

    def worker(name: str):
        p = port()
        env = {
            **worker_env,
            "SWITCHBOARD_HTTP__PORT": str(p),
            "SWITCHBOARD_WORKER__WORKER_ID": name,
        }
        return services(f"worker-{name}", ["switchboard.dialer", "worker"], env, p)

    first = worker("a")
    await asyncio.to_thread(first.wait_ready)
    await store.apply_command(
        "acme", campaign.id, "start", outbox.command(campaign.id, "acme", "start", None, _now())
    )

    async with httpx.AsyncClient(base_url=sim.url) as client:

        async def provider_calls() -> list[dict]:
            return (await client.get("/_sim/calls")).json()

        await eventually(lambda: _at_least(provider_calls, 25), timeout_s=60)
        first.kill()  # mid-campaign: claims, sends and recordings in flight
        in_flight = await pool.fetchval(
            "SELECT count(*) FROM contacts WHERE campaign_id = $1 AND state = 'dialing'",
            campaign.id,
        )
        assert in_flight > 0  # the crash left calls for the second worker to settle
        second = worker("b")
        await asyncio.to_thread(second.wait_ready)

        async def all_done() -> bool:
            n = await pool.fetchval(
                "SELECT count(*) FROM contacts WHERE campaign_id = $1 AND state = 'done'",
                campaign.id,
            )
            return n == CONTACTS

        await eventually(all_done, timeout_s=120, interval_s=0.5)
        calls = await provider_calls()

    by_number: dict[str, list[dict]] = defaultdict(list)
    for call in calls:
        by_number[call["to"]].append(call)
    rows = await pool.fetch(
        "SELECT phone, attempts, outcome FROM contacts WHERE campaign_id = $1", campaign.id
    )
    assert len(rows) == CONTACTS
    for row in rows:
        made = sorted(by_number[row["phone"]], key=lambda c: c["date_created"])
        outcomes = [c["plan"]["outcome"] for c in made]
        # exactly what the outcomes require: one call if it completed, else MAX_ATTEMPTS
        expected = 1 if outcomes and outcomes[0] == "completed" else MAX_ATTEMPTS
        assert len(made) == expected == row["attempts"], (row["phone"], outcomes, row["attempts"])
        assert row["outcome"] == outcomes[-1]
    placed = await pool.fetchval(
        "SELECT count(*) FROM attempts WHERE campaign_id = $1 AND call_sid IS NOT NULL",
        campaign.id,
    )
    assert placed == len(calls)
    states = await pool.fetch(
        "SELECT DISTINCT state FROM attempts WHERE campaign_id = $1", campaign.id
    )
    assert {r["state"] for r in states} <= {"ended", "not_placed", "abandoned"}
    dropped = [c for c in calls if c["plan"]["drop_final"]]
    assert dropped  # some final callbacks were lost, and still every contact was settled


def _now():
    from datetime import UTC, datetime

    return datetime.now(UTC)


async def _at_least(fetch, n: int) -> bool:
    return len(await fetch()) >= n
