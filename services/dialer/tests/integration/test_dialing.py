"""Claims, pacing, concurrency, windows, retries, DNC, commands and recovery on the real
PostgreSQL and Redis, with an in-memory provider."""

import asyncio
import json
import uuid
from datetime import timedelta

import pytest

from switchboard.dialer import outbox
from switchboard.dialer.adapters.postgres import PostgresCampaignStore
from switchboard.dialer.adapters.postgres_dialing import PostgresDialingStore
from switchboard.dialer.errors import NotPlaced, Throttled
from switchboard.dialer.handlers import handle_call_event
from switchboard.dialer.models import CampaignConfig, RetryDelays
from switchboard.dialer.phones import normalize_contact
from switchboard.dialer.repository import Campaign
from switchboard.dialer.worker import DialWorker

from ..fakes import fake_accounts

pytestmark = pytest.mark.integration
ACCOUNT = "AC00000000000000000000000000000001"


class Env:
    def __init__(self, settings, pool, pacer, placer, clock) -> None:
        self.settings = settings
        self.campaigns = PostgresCampaignStore(pool)
        self.store = PostgresDialingStore(pool)
        self.pool = pool
        self.pacer = pacer
        self.placer = placer
        self.clock = clock
        self.accounts = fake_accounts()

    def dialer(self, name: str = "w1") -> DialWorker:
        return DialWorker(
            self.settings,
            self.store,
            self.pacer,
            self.placer,
            accounts=self.accounts,
            clock=self.clock,
            worker_id=name,
        )

    async def campaign(self, phones, *, cps=1000.0, max_concurrent=1000, **config) -> Campaign:
        cfg = CampaignConfig(caller_ids=["+12125550100"], twiml="<Response/>", **config)
        c = await self.campaigns.create_campaign(
            Campaign(uuid.uuid4(), "acme", "t", "draft", ACCOUNT, cps, max_concurrent, cfg)
        )
        rows = []
        for i, p in enumerate(phones):
            phone, tz = p if isinstance(p, tuple) else (p, None)
            e164, key = normalize_contact(phone, tz, None)
            rows.append((i + 2, e164, key, json.dumps({"name": f"n{i}"})))
        async with self.campaigns.contact_loader(c, 10) as loader:
            await loader.add(rows)
            await loader.finish()
        await self.command(c, "start")
        return c

    async def command(self, c: Campaign, action: str) -> None:
        msg = outbox.command(c.id, "acme", action, None, self.clock())
        await self.campaigns.apply_command("acme", c.id, action, msg)

    async def end_call(self, sid: str, status: str, answered_by: str | None = None) -> None:
        """The provider ends a call, then its terminal event is handled."""
        from switchboard.common.events import CallStatus, CallStatusChanged, Event

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

    async def contacts(self, c: Campaign) -> dict[str, tuple[str, int, str | None]]:
        rows = await self.pool.fetch(
            "SELECT phone, state, attempts, outcome FROM contacts WHERE campaign_id = $1", c.id
        )
        return {r["phone"]: (r["state"], r["attempts"], r["outcome"]) for r in rows}

    async def settle(self, dialers, until, timeout_s: float = 20.0) -> None:
        """Step the dialers (and wait for their placements) until ``until()``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while not await until():
            assert loop.time() < deadline, "did not settle"
            for d in dialers:
                await d.loop.step()
            await asyncio.sleep(0.01)


@pytest.fixture
def env(settings, pool, pacer, placer, clock) -> Env:
    return Env(settings, pool, pacer, placer, clock)


def numbers(n: int, area: str = "212") -> list[str]:
    return [f"+1{area}555{i:04d}" for i in range(n)]


async def test_two_workers_never_claim_the_same_contact(env) -> None:
    phones = numbers(120)
    c = await env.campaign(phones)
    a, b = env.dialer("a"), env.dialer("b")

    async def all_placed() -> bool:
        return len(env.placer.calls) >= 120

    await env.settle([a, b], all_placed)
    await asyncio.sleep(0.2)
    assert set(env.placer.per_number) == {normalize_contact(p, None, None)[0] for p in phones}
    assert set(env.placer.per_number.values()) == {1}
    assert await env.pool.fetchval("SELECT count(*) FROM attempts WHERE state = 'placed'") == 120
    sids = await env.pool.fetch("SELECT call_sid FROM attempts")
    assert len({r["call_sid"] for r in sids}) == 120
    assert len(await env.pool.fetch("SELECT 1 FROM outbox WHERE topic = 'call.events'")) == 120
    _ = c


async def test_concurrency_cap_is_never_breached(env) -> None:
    c = await env.campaign(numbers(40), max_concurrent=5)
    dialer = env.dialer()
    done = 0

    async def provider() -> None:
        nonlocal done
        while done < 40:
            for sid in list(env.placer.live):
                if await env.pool.fetchval("SELECT 1 FROM attempts WHERE call_sid = $1", sid):
                    await env.end_call(sid, "completed")
                    done += 1
            await asyncio.sleep(0.02)

    task = asyncio.create_task(provider())

    async def finished() -> bool:
        return done >= 40

    await env.settle([dialer], finished)
    await task
    assert env.placer.max_live <= 5
    assert len(env.placer.calls) == 40
    assert await env.pacer.in_flight(ACCOUNT, c.id) == 0
    outcomes = {v for v in (await env.contacts(c)).values()}
    assert outcomes == {("done", 1, "completed")}


async def test_pacing_never_exceeds_the_campaign_rate(env) -> None:
    await env.campaign(numbers(30), cps=20)
    dialer = env.dialer()

    async def placed() -> bool:
        return len(env.placer.placed_at) >= 30

    await env.settle([dialer], placed)
    times = sorted(env.placer.placed_at)
    # GCRA with no burst: any window of 1 s holds at most cps + 1 call starts.
    for i, t in enumerate(times):
        assert sum(1 for u in times[i:] if u < t + 1.0) <= 21
    assert (times[-1] - times[0]) >= 29 / 20 * 0.95


async def test_calling_windows_follow_each_contacts_zone(env, clock) -> None:
    # Monday 15:00 UTC: 10:00 in New York, 07:00 in Los Angeles, 00:00 in Tokyo
    c = await env.campaign(
        [("+12125550001", None), ("+13105550002", None), ("+12125550003", "Asia/Tokyo")]
    )
    dialer = env.dialer()
    await dialer.loop.step()
    await asyncio.sleep(0.2)
    assert set(env.placer.per_number) == {"+12125550001"}
    clock.advance(3 * 3600)  # 18:00 UTC: 10:00 in Los Angeles, 03:00 in Tokyo
    await dialer.loop.step()
    await asyncio.sleep(0.2)
    assert set(env.placer.per_number) == {"+12125550001", "+13105550002"}
    state = await env.contacts(c)
    assert state["+12125550003"] == ("pending", 0, None)


async def test_retries_wait_per_outcome_until_max_attempts(env, clock) -> None:
    c = await env.campaign(["+12125550001"], max_attempts=2, retry_delays=RetryDelays(busy=60))
    dialer = env.dialer()
    await dialer.loop.step()
    await asyncio.sleep(0.2)
    [sid] = list(env.placer.calls)
    await env.end_call(sid, "busy")
    assert (await env.contacts(c))["+12125550001"] == ("pending", 1, "busy")
    await dialer.loop.step()
    await asyncio.sleep(0.1)
    assert len(env.placer.calls) == 1  # not due yet
    clock.advance(61)
    await dialer.loop.step()
    await asyncio.sleep(0.2)
    assert len(env.placer.calls) == 2
    second = next(s for s in env.placer.calls if s != sid)
    await env.end_call(second, "busy")
    await env.end_call(second, "busy")  # a duplicate changes nothing
    assert (await env.contacts(c))["+12125550001"] == ("done", 2, "busy")


async def test_do_not_call_numbers_are_never_dialed(env) -> None:
    c = await env.campaign(["+12125550001", "+12125550002"])
    await env.campaigns.add_dnc("acme", "+12125550002", "opt-out")
    dialer = env.dialer()
    await dialer.loop.step()
    await asyncio.sleep(0.2)
    assert set(env.placer.per_number) == {"+12125550001"}
    assert (await env.contacts(c))["+12125550002"] == ("done", 0, "do_not_call")


async def test_pause_stops_claims_and_resume_continues(env) -> None:
    c = await env.campaign(numbers(3))
    await env.command(c, "pause")
    dialer = env.dialer()
    await dialer.loop.step()
    assert env.placer.calls == {}
    await env.command(c, "resume")
    dialer.loop.wake()
    await dialer.loop.step()
    await asyncio.sleep(0.2)
    assert len(env.placer.calls) == 3


async def test_cancel_cancels_pending_contacts(env) -> None:
    c = await env.campaign(numbers(3))
    await env.command(c, "cancel")
    dialer = env.dialer()
    await dialer.loop.step()
    assert env.placer.calls == {}
    assert {v[0] for v in (await env.contacts(c)).values()} == {"cancelled"}


async def test_provider_throttling_retries_without_failing_the_contact(env) -> None:
    c = await env.campaign(["+12125550001"])
    env.placer.failures = [Throttled("429", "20429"), Throttled("429", "20429")]
    dialer = env.dialer()
    await dialer.loop.step()
    await asyncio.sleep(1.0)
    assert env.placer.per_number["+12125550001"] == 1
    assert (await env.contacts(c))["+12125550001"] == ("dialing", 1, None)


async def test_capacity_refusal_does_not_use_an_attempt(env, clock) -> None:
    c = await env.campaign(["+12125550001"])
    env.placer.failures = [NotPlaced("10004", "10004", capacity=True)]
    dialer = env.dialer()
    await dialer.loop.step()
    await asyncio.sleep(0.2)
    assert (await env.contacts(c))["+12125550001"] == ("pending", 0, None)
    clock.advance(10)
    await dialer.loop.step()
    await asyncio.sleep(0.2)
    assert env.placer.per_number["+12125550001"] == 1


async def test_a_refused_number_is_finished_as_failed(env) -> None:
    c = await env.campaign(["+12125550001"])
    env.placer.failures = [NotPlaced("21211 invalid To", "21211")]
    await env.dialer().loop.step()
    await asyncio.sleep(0.2)
    assert (await env.contacts(c))["+12125550001"] == ("done", 1, "failed")
    assert await env.pool.fetchval("SELECT count(*) FROM outbox WHERE topic = 'call.events'") == 1


async def test_a_lost_answer_is_recovered_from_the_provider_not_redialed(env, clock) -> None:
    c = await env.campaign(["+12125550001"])
    env.placer.drop_answer = True  # the call exists, but we never saw its sid
    dialer = env.dialer()
    await dialer.loop.step()
    await asyncio.sleep(0.2)
    env.placer.drop_answer = False
    assert await dialer.recovery.recover_once() == 1
    [sid] = list(env.placer.calls)
    assert await env.pool.fetchval("SELECT call_sid FROM attempts") == sid
    await dialer.loop.step()
    await asyncio.sleep(0.1)
    assert env.placer.per_number["+12125550001"] == 1
    await env.end_call(sid, "completed")
    assert (await env.contacts(c))["+12125550001"] == ("done", 1, "completed")


async def test_a_claim_that_never_reached_the_provider_is_dialed_once_later(env, clock) -> None:
    c = await env.campaign(["+12125550001"])
    ids = [uuid.uuid4()]
    # A worker claimed and died before sending: its lease is over.
    claims = await env.store.claim(c, ["America/New_York"], clock(), ids, "dead", timedelta(0))
    assert len(claims) == 1
    clock.advance(1)
    dialer = env.dialer()
    assert await dialer.recovery.recover_once() == 1
    assert (await env.contacts(c))["+12125550001"] == ("pending", 0, None)
    await dialer.loop.step()
    await asyncio.sleep(0.2)
    assert env.placer.per_number["+12125550001"] == 1
    states = await env.pool.fetch("SELECT state FROM attempts ORDER BY claimed_at")
    assert sorted(r["state"] for r in states) == ["abandoned", "placed"]


async def test_recovery_never_takes_an_earlier_attempts_call(env, clock) -> None:
    c = await env.campaign(["+12125550001"], max_attempts=2, retry_delays=RetryDelays(busy=0))
    dialer = env.dialer()
    await dialer.loop.step()
    await asyncio.sleep(0.2)
    [first] = list(env.placer.calls)
    await env.end_call(first, "busy")  # due again at once
    # The retry is claimed by a worker that dies before sending it. The provider lists the
    # first attempt's call too (created moments before, inside the clock-skew allowance).
    claims = await env.store.claim(
        c, ["America/New_York"], clock(), [uuid.uuid4()], "dead", timedelta(0)
    )
    assert len(claims) == 1
    clock.advance(1)
    assert await dialer.recovery.recover_once() == 1
    states = await env.pool.fetch("SELECT state, call_sid FROM attempts ORDER BY claimed_at")
    assert [tuple(r) for r in states] == [("ended", first), ("abandoned", None)]
    await dialer.loop.step()
    await asyncio.sleep(0.2)
    assert env.placer.per_number["+12125550001"] == 2  # the retry, once


async def test_an_early_terminal_event_is_applied_when_the_sid_is_recorded(env) -> None:
    c = await env.campaign(["+12125550001"])
    # the provider's final callback overtakes our own commit
    sid_to_come = "CA00000000000000000000000000000001"
    await env.end_call(sid_to_come, "no-answer")
    await env.dialer().loop.step()
    await asyncio.sleep(0.2)
    assert list(env.placer.calls) == [sid_to_come]
    state, attempts, outcome = (await env.contacts(c))["+12125550001"]
    assert (state, attempts, outcome) == ("pending", 1, "no-answer")
    assert await env.pacer.in_flight(ACCOUNT, c.id) == 0


async def test_a_lost_final_callback_is_settled_from_the_provider(env, clock) -> None:
    c = await env.campaign(["+12125550001", "+12125550002"], max_attempts=2)
    dialer = env.dialer()
    await env.settle([dialer], lambda: _placed(env, 2))
    first, second = sorted(env.placer.calls)
    env.placer.end(first, "completed", "machine_end_beep")  # its final callback never comes
    assert await dialer.reconciliation.reconcile_once() == 0  # not overdue yet
    clock.advance(env.settings.worker.status_check_after_s + 1)
    assert await dialer.reconciliation.reconcile_once() == 1  # the ended call; the live one is left
    contacts = await env.contacts(c)
    assert contacts[env.placer.calls[first].to][1:] == (1, "machine")  # AnsweredBy kept
    assert contacts[env.placer.calls[second].to] == ("dialing", 1, None)
    assert await env.pacer.in_flight(ACCOUNT, c.id) == 1
    assert await dialer.reconciliation.reconcile_once() == 0  # the live one waits for its recheck
    env.placer.end(second, "busy")
    clock.advance(env.settings.worker.status_recheck_s + 1)
    assert await dialer.reconciliation.reconcile_once() == 1
    assert (await env.contacts(c))[env.placer.calls[second].to] == ("pending", 1, "busy")
    assert await env.pacer.in_flight(ACCOUNT, c.id) == 0
    # a late callback for an already settled call changes nothing
    await env.end_call(second, "busy")
    assert (await env.contacts(c))[env.placer.calls[second].to] == ("pending", 1, "busy")


async def _placed(env: Env, n: int) -> bool:
    placed = await env.pool.fetchval("SELECT count(*) FROM attempts WHERE state = 'placed'")
    return bool(placed >= n)


def _status(sid: str, status: str, provider: str = "twilio"):
    from switchboard.common.events import CallStatus, CallStatusChanged, Event

    data = CallStatusChanged(
        provider=provider, call_id=sid, status=CallStatus(status), occurred_at=_utc()
    )
    return Event(id=str(uuid.uuid4()), source="/t", data=data)


def _utc():
    from datetime import UTC, datetime

    return datetime.now(UTC)


async def test_a_batch_settles_the_dialers_calls_and_keeps_unknown_endings(env, clock) -> None:
    from switchboard.dialer.handlers import handle_call_events

    c = await env.campaign(["+12125550001", "+12125550002"], max_attempts=2)
    dialer = env.dialer()
    await env.settle([dialer], lambda: _placed(env, 2))
    first, second = sorted(env.placer.calls)
    batch = [
        _status(first, "ringing"),
        _status(first, "busy"),
        _status("CA" + "f" * 32, "completed"),  # another system's Twilio call
        _status("vapi-call-1", "completed", provider="vapi"),  # not a Twilio call
    ]
    await handle_call_events(batch, env.store, env.pacer, env.placer, clock())
    contacts = await env.contacts(c)
    assert contacts[env.placer.calls[first].to] == ("pending", 1, "busy")
    assert contacts[env.placer.calls[second].to] == ("dialing", 1, None)
    kept = await env.pool.fetch("SELECT call_sid, status FROM early_call_events")
    assert [(r["call_sid"], r["status"]) for r in kept] == [("CA" + "f" * 32, "completed")]
    assert await env.pacer.in_flight(ACCOUNT, c.id) == 1


async def test_an_ending_kept_while_its_sid_was_being_recorded_is_applied(env, clock) -> None:
    from switchboard.dialer.handlers import handle_call_events

    c = await env.campaign(["+12125550001"])
    dialer = env.dialer()
    await env.settle([dialer], lambda: _placed(env, 1))
    [sid] = env.placer.calls

    class RecordedMeanwhile:
        """The first lookup runs before the sid's commit; the re-check after it."""

        def __init__(self, store) -> None:
            self._store, self._calls = store, 0

        def __getattr__(self, name):
            return getattr(self._store, name)

        async def known_calls(self, sids):
            self._calls += 1
            return set() if self._calls == 1 else await self._store.known_calls(sids)

    await handle_call_events(
        [_status(sid, "no-answer")], RecordedMeanwhile(env.store), env.pacer, env.placer, clock()
    )
    assert (await env.contacts(c))[env.placer.calls[sid].to] == ("pending", 1, "no-answer")
    assert await env.pool.fetchval("SELECT count(*) FROM early_call_events") == 0
    assert await env.pacer.in_flight(ACCOUNT, c.id) == 0
