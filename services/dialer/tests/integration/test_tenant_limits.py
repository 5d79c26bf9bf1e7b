"""A tenant's plan limits (concurrent calls, calls per second) hold for the tenant as a whole,
summed over all its campaigns and accounts, on the real PostgreSQL and Redis; another tenant
keeps its own. The dial loop's view first, then the Redis scripts' own answers."""

import asyncio
import json
import uuid
from typing import Any

import pytest
from pydantic import SecretStr

from switchboard.common.config import Channel, InMemoryConfig, PlanLimits, Tenant, TwilioAccount
from switchboard.dialer import outbox
from switchboard.dialer.accounts import Accounts
from switchboard.dialer.adapters.postgres import PostgresCampaignStore
from switchboard.dialer.adapters.postgres_dialing import PostgresDialingStore
from switchboard.dialer.adapters.redis_pacer import RedisPacer
from switchboard.dialer.models import CampaignConfig
from switchboard.dialer.phones import normalize_contact
from switchboard.dialer.repository import Campaign, Lane
from switchboard.dialer.worker import DialWorker

from ..fakes import TOKEN

pytestmark = pytest.mark.integration

ACME_1 = "AC0000000000000000000000000000000a"
ACME_2 = "AC0000000000000000000000000000000b"
GLOBEX = "AC0000000000000000000000000000000c"
CALLER = {ACME_1: "+12125550100", ACME_2: "+13125550100", GLOBEX: "+16175550100"}
TENANT_OF = {ACME_1: "acme", ACME_2: "acme", GLOBEX: "globex"}
GENEROUS = 1000


def config(*, cps: float = GENEROUS, concurrent: int = GENEROUS) -> InMemoryConfig:
    """acme holds two generous accounts, globex one; both plans are ``cps`` / ``concurrent``."""
    plan = PlanLimits(calls_per_second=cps, concurrent_calls=concurrent)
    return InMemoryConfig(
        [
            Tenant(id="acme", name="Acme", limits=plan),
            Tenant(id="globex", name="Globex", limits=plan),
            *(
                TwilioAccount(
                    id=sid,
                    tenants=(tenant,),
                    auth_tokens=(SecretStr(TOKEN),),
                    cps=GENEROUS,
                    max_concurrent=GENEROUS,
                )
                for sid, tenant in TENANT_OF.items()
            ),
            *(
                Channel(kind="phone", id=CALLER[sid], tenant=tenant, account_id=sid)
                for sid, tenant in TENANT_OF.items()
            ),
        ]
    )


class SpyPacer:
    """The real pacer, remembering what each ``schedule`` answered: (wait, spacing)."""

    def __init__(self, inner: RedisPacer) -> None:
        self.inner = inner
        self.schedules: list[tuple[float, float]] = []

    async def schedule(self, *args: Any, **kwargs: Any) -> tuple[float, float]:
        answer = await self.inner.schedule(*args, **kwargs)
        self.schedules.append(answer)
        return answer

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class Env:
    def __init__(self, settings, pool, pacer, placer, clock) -> None:
        self.settings = settings
        self.campaigns = PostgresCampaignStore(pool)
        self.store = PostgresDialingStore(pool)
        self.pool = pool
        self.pacer = SpyPacer(pacer)
        self.placer = placer
        self.clock = clock

    def dialer(self, accounts: Accounts) -> DialWorker:
        return DialWorker(
            self.settings,
            self.store,
            self.pacer,  # type: ignore[arg-type]
            self.placer,
            accounts=accounts,
            clock=self.clock,
            worker_id="w1",
        )

    async def campaign(self, account: str, contacts: int) -> Campaign:
        """A running campaign on ``account`` whose own cps and cap are generous."""
        tenant = TENANT_OF[account]
        cfg = CampaignConfig(caller_ids=[CALLER[account]], twiml="<Response/>")
        c = await self.campaigns.create_campaign(
            Campaign(uuid.uuid4(), tenant, "t", "draft", account, GENEROUS, GENEROUS, cfg)
        )
        rows = []
        for i in range(contacts):
            e164, key = normalize_contact(f"+1{CALLER[account][2:5]}555{i:04d}", None, None)
            rows.append((i + 2, e164, key, json.dumps({})))
        async with self.campaigns.contact_loader(c, 10) as loader:
            await loader.add(rows)
            await loader.finish()
        msg = outbox.command(c.id, tenant, "start", None, self.clock())
        await self.campaigns.apply_command(tenant, c.id, "start", msg)
        return c

    async def placed(self) -> dict[str, int]:
        """Calls placed (and live: nobody ends them) per tenant."""
        rows = await self.pool.fetch(
            "SELECT c.tenant_id, count(*) AS n FROM attempts a JOIN campaigns c "
            "ON c.id = a.campaign_id WHERE a.state = 'placed' GROUP BY c.tenant_id"
        )
        return {r["tenant_id"]: r["n"] for r in rows}


@pytest.fixture
def env(settings, pool, pacer, placer, clock) -> Env:
    return Env(settings, pool, pacer, placer, clock)


async def test_a_tenants_campaigns_share_its_concurrent_calls(env) -> None:
    await env.campaign(ACME_1, 20)
    await env.campaign(ACME_2, 20)
    await env.campaign(GLOBEX, 20)
    dialer = env.dialer(Accounts(config(concurrent=4)))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while sum((await env.placed()).values()) < 8:
        assert loop.time() < deadline, f"did not fill the caps: {await env.placed()}"
        await dialer.loop.step()
        await asyncio.sleep(0.01)
    for _ in range(5):  # more passes find no free slot: the calls stay live
        await dialer.loop.step()
        await asyncio.sleep(0.05)
    # acme's two campaigns (each on its own generous account) share acme's 4;
    # globex, running beside them, still has its own 4.
    assert await env.placed() == {"acme": 4, "globex": 4}


async def test_a_tenants_campaigns_share_its_calls_per_second(env) -> None:
    await env.campaign(ACME_1, 5)
    await env.campaign(ACME_2, 5)
    dialer = env.dialer(Accounts(config(cps=0.5)))
    await dialer.loop.step()  # one batch of one call per campaign, at 0.5 calls/s in all
    assert [spacing for _, spacing in env.pacer.schedules] == [2.0, 2.0]
    first, second = (wait for wait, _ in env.pacer.schedules)
    # The second campaign's start comes one interval (2 s) after the first's, less the time
    # between the two reservations: never at once, as two separate buckets would allow.
    assert first < 0.5
    assert second > 1.0
    await dialer.loop.drain()


# -- the Redis scripts' own answers --------------------------------------------------------------


def lanes() -> tuple[Lane, Lane, Lane]:
    """Two campaigns of acme on its two accounts, one of globex on its own."""
    return (
        Lane("acme", ACME_1, uuid.uuid4()),
        Lane("acme", ACME_2, uuid.uuid4()),
        Lane("globex", GLOBEX, uuid.uuid4()),
    )


def ids(n: int) -> list[uuid.UUID]:
    return [uuid.uuid4() for _ in range(n)]


async def test_slots_are_capped_per_tenant_across_accounts(pacer) -> None:
    a, b, other = lanes()
    caps = {"tenant_cap": 3, "account_cap": GENEROUS, "cap": GENEROUS}
    first = await pacer.acquire_slots(a, ids(2), **caps)
    second = await pacer.acquire_slots(b, ids(5), **caps)
    assert (len(first), len(second)) == (2, 1)  # 3 in all, whichever campaign asks
    assert await pacer.acquire_slots(b, ids(1), **caps) == []
    assert await pacer.tenant_in_flight("acme") == 3
    assert (await pacer.in_flight(ACME_1), await pacer.in_flight(ACME_2)) == (2, 1)
    # globex is not affected by acme's usage.
    assert len(await pacer.acquire_slots(other, ids(5), **caps)) == 3
    # A slot freed by one of acme's campaigns can be taken by the other.
    await pacer.release_slots(a, first[:1])
    assert await pacer.tenant_in_flight("acme") == 2
    assert len(await pacer.acquire_slots(b, ids(5), **caps)) == 1
    # A placed call keeps its slot at the tenant's level too, until it is released.
    await pacer.extend_slot(a, first[1])
    assert await pacer.acquire_slots(a, ids(1), **caps) == []
    await pacer.release_slots(a, first[1:])
    assert await pacer.tenant_in_flight("acme") == 2
    assert await pacer.in_flight(ACME_1) == 0


async def test_the_lowest_of_the_three_caps_holds(pacer) -> None:
    a, _, _ = lanes()
    assert len(await pacer.acquire_slots(a, ids(9), tenant_cap=9, account_cap=2, cap=9)) == 2
    a2 = Lane("acme", ACME_1, uuid.uuid4())
    assert len(await pacer.acquire_slots(a2, ids(9), tenant_cap=9, account_cap=9, cap=1)) == 1
    assert await pacer.tenant_in_flight("acme") == 3


async def test_starts_are_spaced_per_tenant_across_accounts(pacer) -> None:
    a, b, other = lanes()
    rates = {"tenant_cps": 1.0, "account_cps": GENEROUS, "cps": GENEROUS}
    wait_a, spacing_a = await pacer.schedule(a, 10, **rates)
    wait_b, spacing_b = await pacer.schedule(b, 1, **rates)
    # The spacing is the slowest level's interval (the tenant's 1 s) ...
    assert (spacing_a, spacing_b) == (1.0, 1.0)
    # ... and acme's second campaign, on another account, starts after the first one's ten
    # starts (10 s booked), less the moments between the two reservations.
    assert wait_a < 1.0
    assert wait_b > 8.0
    # globex's bucket is its own: it starts now.
    wait_other, spacing_other = await pacer.schedule(other, 1, **rates)
    assert wait_other < 1.0
    assert spacing_other == 1.0


async def test_the_slowest_of_the_three_rates_spaces_starts(pacer) -> None:
    a, _, _ = lanes()
    _, spacing = await pacer.schedule(a, 1, tenant_cps=100.0, account_cps=4.0, cps=50.0)
    assert spacing == 0.25
    _, spacing = await pacer.schedule(a, 1, tenant_cps=100.0, account_cps=100.0, cps=50.0)
    assert spacing == 0.02


async def test_a_429_slows_the_account_not_the_tenants_other_accounts(pacer) -> None:
    a, b, _ = lanes()
    rates = {"tenant_cps": 100.0, "account_cps": 10.0, "cps": 10.0}
    await pacer.throttled(ACME_1)
    _, slowed = await pacer.schedule(a, 1, **rates)
    _, other_account = await pacer.schedule(b, 1, **rates)
    assert slowed == 0.2  # the account's factor halved its rate
    assert other_account == 0.1
