"""The dialer follows the control plane on the real Kafka: a plan limit changed, or a Twilio
auth token rotated, on ``control.config`` (the control plane's writer: ConfigPublisher) is used
by the running worker and placer with no restart."""

import asyncio
import json
import uuid

import httpx
import pytest
from litestar.testing import AsyncTestClient
from pydantic import AnyHttpUrl, SecretStr

from switchboard.common.config import ConfigFollower, PlanLimits, Tenant, TwilioAccount
from switchboard.common.testing import ConfigPublisher, config_settings, eventually, unique
from switchboard.dialer import outbox
from switchboard.dialer.accounts import PREFIXES, Accounts
from switchboard.dialer.adapters.postgres import PostgresCampaignStore
from switchboard.dialer.adapters.twilio import TwilioCallPlacer
from switchboard.dialer.app import create_worker
from switchboard.dialer.errors import NotPlaced
from switchboard.dialer.models import CampaignConfig
from switchboard.dialer.repository import Campaign

from ..fakes import ACCOUNT, fake_entities

pytestmark = pytest.mark.integration
OLD_TOKEN, NEW_TOKEN = "an-old-auth-token-0123", "the-new-auth-token-4567"


def with_plan(concurrent: int) -> Tenant:
    [acme] = [e for e in fake_entities() if isinstance(e, Tenant) and e.id == "acme"]
    return acme.model_copy(
        update={"limits": PlanLimits(calls_per_second=50, concurrent_calls=concurrent)}
    )


async def test_a_plan_limit_raised_on_the_control_plane_binds_the_running_worker(
    settings, placer, pool, clock, kafka_settings
) -> None:
    config = config_settings()
    async with ConfigPublisher(kafka_settings, config) as control:
        await control.put(*fake_entities(), with_plan(concurrent=1))
    settings.config = config
    settings.consumer.group_id = unique("dialer_test")
    settings.consumer.auto_offset_reset = "latest"
    settings.worker.idle_poll_s = 0.1
    app = create_worker(settings, placer=placer, clock=clock)  # follows the topic itself
    store = PostgresCampaignStore(pool)
    cfg = CampaignConfig(caller_ids=["+12125550100"], twiml="<Response/>")
    campaign = await store.create_campaign(
        Campaign(uuid.uuid4(), "acme", "live", "draft", ACCOUNT, 50.0, 10, cfg)
    )
    async with store.contact_loader(campaign, 10) as loader:
        await loader.add([(2 + i, f"+1212555{i:04d}", "America/New_York", None) for i in range(6)])
        await loader.finish()
    async with AsyncTestClient(app=app) as client:

        async def ready() -> bool:
            answer = await client.get("/ready")
            return answer.status_code == 200 and answer.json()["checks"]["config"] is True

        await eventually(ready, timeout_s=60)
        await store.apply_command(
            "acme",
            campaign.id,
            "start",
            outbox.command(campaign.id, "acme", "start", None, clock()),
        )
        # The plan allows one live call (the campaign ten): the calls never end, one it is.
        await eventually(lambda: len(placer.live) == 1, timeout_s=30)
        await asyncio.sleep(2.0)
        assert placer.max_live == 1
        async with ConfigPublisher(kafka_settings, config) as control:
            await control.put(with_plan(concurrent=3))
        await eventually(lambda: len(placer.live) == 3, timeout_s=60)
        await asyncio.sleep(1.0)
        assert placer.max_live == 3


@pytest.fixture
async def sim(services, port):
    """The provider simulator, knowing the account by its new token only."""
    sim_port = port()
    process = services(
        "provider-sim",
        ["switchboard.providersim", "serve"],
        {
            "SWITCHBOARD_SIM__PORT": str(sim_port),
            "SWITCHBOARD_SIM__TWILIO_ACCOUNTS": json.dumps(
                {ACCOUNT: {"auth_token": NEW_TOKEN, "cps": 100}}
            ),
        },
        sim_port,
    )
    await asyncio.to_thread(process.wait_ready, "/health")
    async with httpx.AsyncClient(base_url=process.url) as client:
        yield client


async def test_a_rotated_auth_token_signs_the_running_placers_next_request(
    settings, sim, kafka_settings
) -> None:
    config = config_settings()
    account = TwilioAccount(id=ACCOUNT, tenants=("acme",), auth_tokens=(SecretStr(OLD_TOKEN),))
    async with ConfigPublisher(kafka_settings, config) as control:
        await control.put(account)
    follower = ConfigFollower(kafka_settings, config, prefixes=PREFIXES)
    following = asyncio.create_task(follower.run())
    settings.twilio.api_base_url = AnyHttpUrl(str(sim.base_url))
    placer = TwilioCallPlacer(settings.twilio, "http://127.0.0.1:9", Accounts(follower).credentials)

    async def place() -> str:
        return await placer.place(
            ACCOUNT,
            to="+12125550001",
            from_="+12125550100",
            twiml="<Response/>",
            url=None,
            amd=False,
            amd_message_end=False,
        )

    try:
        await follower.wait_ready(60)
        with pytest.raises(NotPlaced):  # Twilio no longer takes the old token
            await place()
        # Rotation: the new token first (REST calls use it), the old one still verifies.
        rotated = account.model_copy(
            update={"auth_tokens": (SecretStr(NEW_TOKEN), SecretStr(OLD_TOKEN))}
        )
        async with ConfigPublisher(kafka_settings, config) as control:
            await control.put(rotated)
        await eventually(
            lambda: Accounts(follower).credentials(ACCOUNT) == (ACCOUNT, NEW_TOKEN), timeout_s=60
        )
        sid = await place()
        calls = (await sim.get("/_sim/calls")).json()
        assert [c["sid"] for c in calls] == [sid]
    finally:
        await placer.close()
        following.cancel()
        await asyncio.gather(following, return_exceptions=True)
