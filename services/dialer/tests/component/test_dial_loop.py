"""The dial loop, placement, recovery and reconciliation over the in-memory fakes (no
server): pacing, caps, calling windows, retries, provider answers, outages and recovery.
The same behaviour on the real PostgreSQL and Redis: ``integration/test_dialing.py``."""

import asyncio
import uuid
from datetime import UTC, datetime

import pytest
from prometheus_client import REGISTRY

from switchboard.common.config import PlanLimits, Tenant, TwilioAccount
from switchboard.common.events import CallStatus, CallStatusChanged, Event
from switchboard.dialer.accounts import Accounts
from switchboard.dialer.errors import NotPlaced, Throttled
from switchboard.dialer.handlers import handle_call_event, handle_message
from switchboard.dialer.metrics import OUTAGE_RETRIES
from switchboard.dialer.models import CampaignConfig, RetryDelays
from switchboard.dialer.phones import normalize_contact
from switchboard.dialer.repository import Campaign
from switchboard.dialer.settings import DialerSettings
from switchboard.dialer.worker import DialWorker

from ..fakes import (
    ACCOUNT,
    FakeClock,
    FakePlacer,
    InMemoryPacer,
    InMemoryStore,
    fake_config,
    fake_entities,
    settle,
)


class Env:
    def __init__(self, settings: DialerSettings, clock: FakeClock) -> None:
        self.settings = settings
        self.clock = clock
        self.store = InMemoryStore()
        self.pacer = InMemoryPacer(tolerance_s=0.0)
        self.placer = FakePlacer()
        self.config = fake_config()
        self.accounts = Accounts(self.config)

    def worker(self, name: str = "w1") -> DialWorker:
        return DialWorker(
            self.settings,
            self.store,
            self.pacer,
            self.placer,
            accounts=self.accounts,
            clock=self.clock,
            worker_id=name,
        )

    def campaign(
        self, phones, *, cps=1000.0, max_concurrent=1000, tenant="acme", **config
    ) -> Campaign:
        cfg = CampaignConfig(caller_ids=["+12125550100"], twiml="<Response/>", **config)
        contacts = []
        for i, p in enumerate(phones):
            phone, tz = p if isinstance(p, tuple) else (p, None)
            e164, key = normalize_contact(phone, tz, None)
            contacts.append((e164, key, {"name": f"n{i}"}))
        campaign = Campaign(uuid.uuid4(), tenant, "t", "draft", ACCOUNT, cps, max_concurrent, cfg)
        return self.store.add_campaign(campaign, contacts)

    async def end_call(self, sid: str, status: str, answered_by: str | None = None) -> None:
        """The provider ends a call, then its terminal event is handled."""
        self.placer.end(sid, status, answered_by)
        data = CallStatusChanged(
            provider="twilio",
            call_id=sid,
            status=CallStatus(status),
            answered_by=answered_by,
            occurred_at=self.clock(),
        )
        event = Event(id=str(uuid.uuid4()), source="/t", data=data)
        await handle_call_event(event, self.store, self.pacer, self.placer, self.clock())

    async def step(self, worker: DialWorker, settle_s: float = 0.05) -> None:
        """One pass of the loop, then time for the placements it scheduled."""
        await worker.loop.step()
        await asyncio.sleep(settle_s)

    async def run_until(self, worker: DialWorker, until, timeout_s: float = 30.0) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while not until():
            assert loop.time() < deadline, "did not settle"
            await worker.loop.step()
            await asyncio.sleep(0.01)


@pytest.fixture
def env(make_settings, clock: FakeClock) -> Env:
    return Env(make_settings(), clock)


def numbers(n: int, area: str = "212") -> list[str]:
    return [f"+1{area}555{i:04d}" for i in range(n)]


async def test_two_workers_never_claim_the_same_contact(env: Env) -> None:
    env.campaign(numbers(60))
    a, b = env.worker("a"), env.worker("b")

    def all_placed() -> bool:
        return sum(1 for x in env.store.attempts.values() if x.state == "placed") >= 60

    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while not all_placed():
        assert loop.time() < deadline
        await asyncio.gather(a.loop.step(), b.loop.step())
        await asyncio.sleep(0.01)
    assert set(env.placer.per_number.values()) == {1}
    assert len(env.placer.per_number) == 60
    assert len(env.store.sent()) == 60  # a call.placed each, through the outbox


async def test_calls_never_start_faster_than_the_pace(env: Env) -> None:
    # The account allows 40 calls/s; the campaign asks for more: 40 it is.
    for entity in fake_entities():
        if isinstance(entity, TwilioAccount):
            env.config.put(entity.model_copy(update={"cps": 40, "max_concurrent": 1000}))
    env.campaign(numbers(20), cps=500)
    worker = env.worker()
    await env.run_until(worker, lambda: len(env.placer.placed_at) >= 20)
    first_start, spacing, _ = env.pacer.starts[0]
    assert spacing == pytest.approx(1 / 40)
    # Each call leaves at its paced start or later (a busy box only delays it): the k-th call
    # never before the first start plus k spacings. A lower bound only.
    for k, sent in enumerate(sorted(env.placer.placed_at)):
        assert sent >= first_start + k * spacing - 0.001, k
    assert all(count <= env.settings.worker.max_batch for _, _, count in env.pacer.starts)


async def test_the_concurrency_cap_is_never_breached(env: Env) -> None:
    env.campaign(numbers(30), max_concurrent=4)
    worker = env.worker()
    ended = 0
    while ended < 30:
        await env.step(worker, 0.01)
        assert len(env.placer.live) <= 4
        for sid in sorted(env.placer.live):
            if sid in await env.store.known_calls({sid}):
                await env.end_call(sid, "completed")
                ended += 1
    assert env.placer.max_live <= 4
    assert await env.pacer.in_flight(ACCOUNT) == 0
    assert {env.store.contact(p) for p in env.placer.per_number} == {("done", 1, "completed")}


def set_plans(env: Env, *, calls_per_second: float = 1000, concurrent_calls: int = 1000) -> None:
    """acme's and globex's plans (the shared account stays generous)."""
    plan = PlanLimits(calls_per_second=calls_per_second, concurrent_calls=concurrent_calls)
    for entity in fake_entities():
        if isinstance(entity, Tenant):
            env.config.put(entity.model_copy(update={"limits": plan}))


def live_per_tenant(env: Env) -> dict[str, int]:
    live: dict[str, int] = {}
    for attempt in env.store.attempts.values():
        if attempt.state in ("claimed", "placed"):
            tenant = env.store.campaigns[attempt.campaign_id].tenant_id
            live[tenant] = live.get(tenant, 0) + 1
    return live


async def test_a_tenants_plan_caps_its_campaigns_together(env: Env) -> None:
    set_plans(env, concurrent_calls=3)
    env.campaign(numbers(10))
    env.campaign(numbers(10, "312"))
    env.campaign(numbers(10, "617"), tenant="globex")
    worker = env.worker()
    await env.run_until(worker, lambda: live_per_tenant(env) == {"acme": 3, "globex": 3})
    for _ in range(5):  # the calls stay live: no pass finds a free slot
        await env.step(worker, 0.01)
    assert live_per_tenant(env) == {"acme": 3, "globex": 3}
    assert await env.pacer.tenant_in_flight("acme") == 3
    # Ending acme's calls frees acme's slots, whichever campaign takes them next.
    ended = 0
    while ended < 20:
        await env.step(worker, 0.01)
        assert live_per_tenant(env).get("acme", 0) <= 3
        for sid in sorted(env.placer.live):
            attempt = next((a for a in env.store.attempts.values() if a.call_sid == sid), None)
            if attempt is not None and env.store.campaigns[attempt.campaign_id].tenant_id == "acme":
                await env.end_call(sid, "completed")
                ended += 1
    assert await env.pacer.tenant_in_flight("acme") == 0
    assert await env.pacer.tenant_in_flight("globex") == 3


def tenant_gauges(tenant: str) -> tuple[float | None, float | None]:
    """(in flight, cap) of ``tenant`` as the worker last reported them."""
    return (
        REGISTRY.get_sample_value("switchboard_dialer_tenant_in_flight_calls", {"tenant": tenant}),
        REGISTRY.get_sample_value(
            "switchboard_dialer_tenant_max_concurrent_calls", {"tenant": tenant}
        ),
    )


async def test_the_gauges_report_each_running_tenants_calls_and_cap(env: Env) -> None:
    set_plans(env, concurrent_calls=3)
    env.campaign(numbers(10))
    env.campaign(numbers(10, "312"))
    globex = env.campaign(numbers(10, "617"), tenant="globex")
    worker = env.worker()
    await env.run_until(worker, lambda: live_per_tenant(env) == {"acme": 3, "globex": 3})
    await worker.gauges.report(await worker.loop.campaigns.running())
    assert tenant_gauges("acme") == (3, 3)
    assert tenant_gauges("globex") == (3, 3)
    # A tenant with no running campaign loses its series.
    await worker.gauges.report([env.store.campaigns[globex.id]])
    assert tenant_gauges("acme") == (None, None)
    assert tenant_gauges("globex") == (3, 3)


async def test_a_tenants_plan_paces_its_campaigns_together(env: Env) -> None:
    set_plans(env, calls_per_second=40)
    env.campaign(numbers(10), cps=500)
    env.campaign(numbers(10, "312"), cps=500)
    worker = env.worker()
    await env.run_until(worker, lambda: len(env.placer.placed_at) >= 20)
    assert [spacing for _, spacing, _ in env.pacer.starts] == [
        pytest.approx(1 / 40) for _ in env.pacer.starts
    ]
    first_start = min(start for start, _, _ in env.pacer.starts)
    # Both campaigns' calls together at 40/s: the k-th never before the first start plus k
    # spacings (a lower bound only: a busy box only delays calls).
    for k, sent in enumerate(sorted(env.placer.placed_at)):
        assert sent >= first_start + k / 40 - 0.001, k


async def test_calling_windows_follow_each_contacts_zone(env: Env, clock: FakeClock) -> None:
    # Monday 15:00 UTC: 10:00 in New York, 07:00 in Los Angeles, 00:00 in Tokyo
    env.campaign([("+12125550001", None), ("+13105550002", None), ("+12125550003", "Asia/Tokyo")])
    worker = env.worker()
    await env.run_until(worker, lambda: len(env.placer.calls) >= 1)
    await env.step(worker)
    assert set(env.placer.per_number) == {"+12125550001"}
    clock.advance(3 * 3600)  # 18:00 UTC: 10:00 in Los Angeles, 03:00 in Tokyo
    await env.run_until(worker, lambda: len(env.placer.calls) >= 2)
    assert set(env.placer.per_number) == {"+12125550001", "+13105550002"}
    assert env.store.contact("+12125550003") == ("pending", 0, None)


async def test_retries_wait_per_outcome_until_max_attempts(env: Env, clock: FakeClock) -> None:
    env.campaign(["+12125550001"], max_attempts=2, retry_delays=RetryDelays(busy=60))
    worker = env.worker()
    await env.run_until(worker, lambda: len(env.placer.calls) == 1)
    [sid] = list(env.placer.calls)
    await settle(lambda: sid in {a.call_sid for a in env.store.attempts.values()})
    await env.end_call(sid, "busy")
    assert env.store.contact("+12125550001") == ("pending", 1, "busy")
    await env.step(worker)
    assert len(env.placer.calls) == 1  # not due yet
    clock.advance(61)
    await env.run_until(worker, lambda: len(env.placer.calls) == 2)
    second = next(s for s in env.placer.calls if s != sid)
    await settle(lambda: second in {a.call_sid for a in env.store.attempts.values()})
    await env.end_call(second, "busy")
    await env.end_call(second, "busy")  # a duplicate changes nothing
    assert env.store.contact("+12125550001") == ("done", 2, "busy")


async def test_do_not_call_numbers_are_never_dialed(env: Env) -> None:
    env.campaign(["+12125550001", "+12125550002"])
    opt_out = Event(
        id="m1",
        source="/t",
        tenant="acme",
        data=_message("12125550002", "STOP"),
    )
    assert await handle_message(opt_out, env.store, ["STOP"])
    worker = env.worker()
    await env.run_until(worker, lambda: len(env.placer.calls) >= 1)
    await env.step(worker)
    assert set(env.placer.per_number) == {"+12125550001"}
    assert env.store.contact("+12125550002") == ("done", 0, "do_not_call")


async def test_an_opt_out_without_a_tenant_lands_on_no_tenants_list(env: Env) -> None:
    # The tenant of a STOP is the owner of the number it was sent to (the ingress); one that
    # names no tenant is nobody's to guess (it used to land on a "default" tenant's list).
    orphan = Event(id="m2", source="/t", data=_message("12125550003", "STOP"))
    assert not await handle_message(orphan, env.store, ["STOP"])
    assert env.store.dnc == {}


async def test_pause_stops_claims_and_resume_continues(env: Env) -> None:
    c = env.campaign(numbers(3))
    env.store.command(c.id, "pause")
    worker = env.worker()
    await env.step(worker)
    assert env.placer.calls == {}
    env.store.command(c.id, "resume")
    worker.loop.wake()
    await env.run_until(worker, lambda: len(env.placer.calls) == 3)


async def test_provider_throttling_resends_without_failing_the_contact(env: Env) -> None:
    env.campaign(["+12125550001"])
    env.placer.failures = [Throttled("429", "20429"), Throttled("429", "20429")]
    worker = env.worker()
    await env.step(worker)
    await settle(lambda: len(env.placer.calls) == 1)
    assert env.pacer.throttles == 2  # the account's bucket slowed down twice
    assert env.placer.per_number["+12125550001"] == 1
    await settle(lambda: env.store.sent() != [])
    assert env.store.contact("+12125550001") == ("dialing", 1, None)


async def test_capacity_refusal_does_not_use_an_attempt(env: Env, clock: FakeClock) -> None:
    env.campaign(["+12125550001"])
    env.placer.failures = [NotPlaced("10004", "10004", capacity=True)]
    worker = env.worker()
    await env.step(worker)
    await settle(lambda: env.store.contact("+12125550001") == ("pending", 0, None))
    assert env.store.sent() == []
    clock.advance(env.settings.worker.retry_not_placed_s + 1)
    await env.run_until(worker, lambda: env.placer.per_number["+12125550001"] == 1)


async def test_a_refused_number_is_finished_as_failed(env: Env) -> None:
    env.campaign(["+12125550001"])
    env.placer.failures = [NotPlaced("21211 invalid To", "21211")]
    await env.step(env.worker())
    await settle(lambda: env.store.contact("+12125550001") == ("done", 1, "failed"))
    [message] = env.store.sent()
    assert message.headers["ce_type"] == "switchboard.call.place_failed.v1"


async def test_a_result_is_recorded_through_a_short_outage(env: Env) -> None:
    env.campaign(["+12125550001"])
    env.store.outages["record_placed"] = 2  # the database is down for two tries
    await env.step(env.worker())
    await settle(lambda: any(a.state == "placed" for a in env.store.attempts.values()))
    assert env.placer.per_number["+12125550001"] == 1
    assert len(env.store.sent()) == 1


async def test_an_outage_pauses_the_loop_and_never_ends_it(env: Env) -> None:
    env.campaign(numbers(2))
    env.store.outages["claim"] = 1
    before = OUTAGE_RETRIES.labels("dial")._value.get()
    worker = env.worker()
    task = asyncio.create_task(worker.loop.run())
    try:
        await settle(lambda: len(env.placer.calls) == 2)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert OUTAGE_RETRIES.labels("dial")._value.get() == before + 1


async def test_a_lost_answer_is_recovered_from_the_provider_not_redialed(env: Env) -> None:
    env.campaign(["+12125550001"])
    env.placer.drop_answer = True  # the call exists, but we never saw its sid
    worker = env.worker()
    await env.step(worker)
    await settle(lambda: len(env.placer.calls) == 1)
    await settle(lambda: all(a.lease_until <= env.clock() for a in env.store.attempts.values()))
    env.placer.drop_answer = False
    assert await worker.recovery.recover_once() == 1
    [sid] = list(env.placer.calls)
    assert [a.call_sid for a in env.store.attempts.values()] == [sid]
    await env.step(worker)
    assert env.placer.per_number["+12125550001"] == 1
    await env.end_call(sid, "completed")
    assert env.store.contact("+12125550001") == ("done", 1, "completed")


async def test_a_claim_that_never_reached_the_provider_is_dialed_once_later(
    env: Env, clock: FakeClock
) -> None:
    c = env.campaign(["+12125550001"])
    # A worker claimed and died before sending: its lease is over.
    claims = await env.store.claim(
        c, ["America/New_York"], clock(), [uuid.uuid4()], "dead", _seconds(0)
    )
    assert len(claims) == 1
    clock.advance(1)
    worker = env.worker()
    assert await worker.recovery.recover_once() == 1
    assert env.store.contact("+12125550001") == ("pending", 0, None)
    await env.run_until(worker, lambda: env.placer.per_number["+12125550001"] == 1)
    await settle(lambda: len(env.store.sent()) == 1)
    assert sorted(a.state for a in env.store.attempts.values()) == ["abandoned", "placed"]


async def test_an_early_terminal_event_is_applied_when_the_sid_is_recorded(env: Env) -> None:
    c = env.campaign(["+12125550001"])
    # the provider's final callback overtakes our own commit
    sid_to_come = "CA00000000000000000000000000000001"
    await env.end_call(sid_to_come, "no-answer")
    await env.step(env.worker())
    await settle(lambda: env.store.contact("+12125550001") == ("pending", 1, "no-answer"))
    assert list(env.placer.calls) == [sid_to_come]
    assert await env.pacer.in_flight(ACCOUNT, c.id) == 0


async def test_a_lost_final_callback_is_settled_from_the_provider(
    env: Env, clock: FakeClock
) -> None:
    c = env.campaign(["+12125550001", "+12125550002"], max_attempts=2)
    worker = env.worker()
    await env.run_until(
        worker, lambda: sum(a.state == "placed" for a in env.store.attempts.values()) == 2
    )
    first, second = sorted(env.placer.calls)
    env.placer.end(first, "completed", "machine_end_beep")  # its final callback never comes
    reconcile = worker.reconciliation.reconcile_once
    assert await reconcile() == 0  # not overdue yet
    clock.advance(env.settings.worker.status_check_after_s + 1)
    assert await reconcile() == 1  # the ended call; the live one is left
    assert env.store.contact(env.placer.calls[first].to)[1:] == (1, "machine")
    assert env.store.contact(env.placer.calls[second].to) == ("dialing", 1, None)
    assert await env.pacer.in_flight(ACCOUNT, c.id) == 1
    assert await reconcile() == 0  # the live one waits for its recheck
    env.placer.end(second, "busy")
    clock.advance(env.settings.worker.status_recheck_s + 1)
    assert await reconcile() == 1
    assert env.store.contact(env.placer.calls[second].to) == ("pending", 1, "busy")
    assert await env.pacer.in_flight(ACCOUNT, c.id) == 0


def _seconds(s: float):
    from datetime import timedelta

    return timedelta(seconds=s)


def _message(contact: str, text: str):
    from switchboard.common.events import MessageReceived

    return MessageReceived(
        provider="twilio",
        channel="sms",
        message_id="SM1",
        business_channel_id="+15005550006",
        contact=contact,
        text=text,
        received_at=datetime.now(UTC),
    )
