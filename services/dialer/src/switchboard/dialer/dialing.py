"""The worker's dial loop: claim due contacts, pace them globally, place the calls, record
the results through the outbox; and the recovery of claims whose worker vanished.

Never dialing twice rests on three rules:
1. a claim (contact → ``dialing`` + attempt row) commits *before* the provider is asked;
2. a worker sends a claim's request only before ``claim_lease - request_timeout - margin``,
   so once the lease has expired no request for it can still be on its way;
3. an expired claim is resolved by listing the provider's calls to that number from that
   caller id created in the claim's lease (by creation time: a call still queued has no start
   time) and not recorded for another attempt: found → recorded as placed; not found → the
   attempt never happened.

A placed call whose final callback never came is settled the same way: by asking the provider.
"""

import asyncio
import contextlib
import math
import time as _time
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from datetime import datetime, timedelta
from typing import Any, Final, Protocol, TypeVar
from uuid import UUID

import structlog
from prometheus_client import Counter, Gauge

from switchboard.common.errors import RetryableError
from switchboard.dialer import outbox
from switchboard.dialer.adapters.postgres_dialing import PostgresDialingStore
from switchboard.dialer.errors import NotPlaced, PlaceUnknown, ProviderUnavailable, Throttled
from switchboard.dialer.models import callable_keys, outcome_of, render_twiml, utcnow
from switchboard.dialer.repository import CallPlacer, Campaign, Claimed, Pacer
from switchboard.dialer.send_gate import CATCH_UP, SendGate
from switchboard.dialer.settings import DialerSettings

log = structlog.get_logger(__name__)
T = TypeVar("T")

SEND_MARGIN_S: Final = 2.0
CAMPAIGN_CACHE_S: Final = 1.0
ZONE_CACHE_S: Final = 5.0
DRAIN_CHECK_S: Final = 2.0
RECORD_RETRIES: Final = 5

PLACED = Counter(
    "switchboard_dialer_calls_placed_total", "Calls the provider accepted.", ["campaign"]
)
PLACE_ERRORS = Counter(
    "switchboard_dialer_place_errors_total", "Placement errors by kind.", ["kind"]
)
RECONCILED = Counter(
    "switchboard_dialer_calls_reconciled_total",
    "Calls whose lost final status was fetched from the provider, by status.",
    ["status"],
)
OUTAGE_RETRIES = Counter(
    "switchboard_dialer_outage_retries_total",
    "Passes of a worker loop that failed because PostgreSQL, Redis, Kafka or the provider was "
    "unavailable; the loop pauses and tries again.",
    ["loop"],
)
CLAIMS_RECOVERED = Counter(
    "switchboard_dialer_claims_recovered_total",
    "Expired claims resolved by asking the provider: placed (its call exists), abandoned (no "
    "call: the contact is due again), lookup_failed (asked again later).",
    ["result"],
)
PENDING = Gauge("switchboard_dialer_pending_placements", "Claimed calls not yet sent.")
TARGET_CPS = Gauge(
    "switchboard_dialer_target_cps",
    "Target calls/s of each running campaign (its cps, capped by its account's).",
    ["campaign"],
)
IN_FLIGHT = Gauge(
    "switchboard_dialer_in_flight_calls",
    "Calls holding a concurrency slot, per account.",
    ["account"],
)
MAX_CONCURRENT = Gauge(
    "switchboard_dialer_max_concurrent_calls", "Concurrency cap per account.", ["account"]
)


class Clock(Protocol):
    def __call__(self) -> datetime: ...


class Dialer:
    """One worker's dial loop, recovery loop and bookkeeping."""

    def __init__(
        self,
        settings: DialerSettings,
        store: PostgresDialingStore,
        pacer: Pacer,
        placer: CallPlacer,
        *,
        clock: Clock = utcnow,
        worker_id: str | None = None,
    ) -> None:
        self._s = settings
        self._store = store
        self._pacer = pacer
        self._placer = placer
        self._clock = clock
        self.worker_id = worker_id or settings.worker.worker_id or f"w-{uuid.uuid4().hex[:8]}"
        self._wake = asyncio.Event()
        self._campaigns: list[Campaign] = []
        self._campaigns_at = -math.inf
        self._zones: dict[UUID, tuple[float, list[str]]] = {}
        self._drain_checked: dict[UUID, float] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._paced: set[str] = set()  # campaigns with a TARGET_CPS series
        self._gate = SendGate()
        lease = settings.worker.claim_lease_s
        self._lease = timedelta(seconds=lease)
        self._send_window_s = lease - settings.twilio.request_timeout_s - SEND_MARGIN_S
        if self._send_window_s <= 0:
            raise ValueError("worker.claim_lease_s must exceed twilio.request_timeout_s + 2 s")

    # -- control ----------------------------------------------------------------------------
    def wake(self) -> None:
        """A command arrived: re-read campaigns now."""
        self._campaigns_at = -math.inf
        self._wake.set()

    async def _running(self) -> list[Campaign]:
        if _time.monotonic() - self._campaigns_at > CAMPAIGN_CACHE_S:
            self._campaigns = await self._store.running_campaigns()
            self._campaigns_at = _time.monotonic()
        return self._campaigns

    async def _zone_keys(self, campaign_id: UUID) -> list[str]:
        cached = self._zones.get(campaign_id)
        if cached is None or _time.monotonic() - cached[0] > ZONE_CACHE_S:
            cached = (_time.monotonic(), await self._store.zone_keys(campaign_id))
            self._zones[campaign_id] = cached
        return cached[1]

    # -- dial loop --------------------------------------------------------------------------
    async def run(self) -> None:
        """Dial until cancelled; storage outages pause the loop, never end it."""
        try:
            while True:
                try:
                    pause = await self.step()
                except RetryableError as exc:
                    OUTAGE_RETRIES.labels("dial").inc()
                    log.warning("dial step failed; retrying", error=str(exc))
                    pause = 1.0
                if pause > 0:
                    self._wake.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), pause)
        finally:
            await self.drain()

    async def step(self) -> float:
        """One pass over the running campaigns; returns how long to pause."""
        w = self._s.worker
        pause = w.idle_poll_s
        for campaign in await self._running():
            if len(self._tasks) >= w.max_pending_placements:
                return w.full_poll_s
            result = await self.dial_batch(campaign)
            if result is None:
                pause = min(pause, w.full_poll_s)  # capped: slots free up soon
            elif result > 0:
                pause = 0.0
        return pause

    async def dial_batch(self, campaign: Campaign) -> int | None:
        """Claim and schedule one batch: how many were claimed (None: concurrency cap)."""
        account = self._s.account_for(campaign.account_sid)
        if account is None:
            return 0
        account_sid, limits = account
        now = self._clock()
        keys = callable_keys(now, await self._zone_keys(campaign.id), campaign.config.window)
        if not keys:
            return 0
        cps = min(campaign.cps, limits.cps)
        size = max(1, min(self._s.worker.max_batch, math.ceil(cps * self._s.worker.batch_window_s)))
        ids = [uuid.uuid4() for _ in range(size)]
        granted = await self._pacer.acquire_slots(
            account_sid,
            campaign.id,
            ids,
            limits.max_concurrent,
            min(campaign.max_concurrent, limits.max_concurrent),
        )
        if not granted:
            return None
        claimed_at = _time.monotonic()
        try:
            claims = await self._store.claim(
                campaign, keys, now, granted, self.worker_id, self._lease
            )
        except BaseException:
            await self._pacer.release_slots(account_sid, campaign.id, granted)
            raise
        unused = granted[len(claims) :]
        if unused:
            await self._pacer.release_slots(account_sid, campaign.id, unused)
        if not claims:
            await self._maybe_finish(campaign.id)
            return 0
        wait, spacing = await self._pacer.schedule(
            account_sid, campaign.id, len(claims), limits.cps, cps
        )
        start = _time.monotonic() + wait
        send_by = claimed_at + self._send_window_s
        for i, claim in enumerate(claims):
            self._spawn(
                self._place(campaign, account_sid, claim, start + i * spacing, send_by, spacing)
            )
        if wait > 0.5:  # the bucket is booked ahead: do not claim further ahead than needed
            await asyncio.sleep(wait - 0.3)
        return len(claims)

    async def _maybe_finish(self, campaign_id: UUID) -> None:
        last = self._drain_checked.get(campaign_id, -math.inf)
        if _time.monotonic() - last > DRAIN_CHECK_S:
            self._drain_checked[campaign_id] = _time.monotonic()
            if await self._store.finish_if_drained(campaign_id):
                log.info("campaign completed", campaign=str(campaign_id))
                self.wake()

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        PENDING.set(len(self._tasks))

        def done(t: asyncio.Task[None]) -> None:
            self._tasks.discard(t)
            PENDING.set(len(self._tasks))
            if not t.cancelled() and t.exception() is not None:
                log.error("placement task failed", error=repr(t.exception()))

        task.add_done_callback(done)

    async def drain(self) -> None:
        """Cancel placements not yet sent (their claims expire and recovery resolves them)."""
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _place(
        self,
        campaign: Campaign,
        account_sid: str,
        claim: Claimed,
        at: float,
        send_by: float,
        spacing: float,
    ) -> None:
        cfg = campaign.config
        twiml = render_twiml(cfg.twiml, claim.vars) if cfg.twiml is not None else None
        limits = self._s.twilio.accounts[account_sid]
        while True:
            await asyncio.sleep(max(0.0, at - _time.monotonic()))
            await self._gate.wait_turn(campaign.id, spacing / CATCH_UP)
            if _time.monotonic() > send_by:
                # Too late to send safely: recovery may already be looking at this claim.
                PLACE_ERRORS.labels("late").inc()
                await self._not_placed(account_sid, claim, "late", retry_in_s=0.0)
                return
            try:
                sid = await self._placer.place(
                    account_sid,
                    to=claim.to_number,
                    from_=claim.from_number,
                    twiml=twiml,
                    url=cfg.url,
                    amd=cfg.amd.enabled,
                    amd_message_end=cfg.amd.on_machine == "continue",
                )
            except Throttled:
                PLACE_ERRORS.labels("throttled").inc()
                await self._pacer.throttled(account_sid)
                wait, _ = await self._pacer.schedule(
                    account_sid, campaign.id, 1, limits.cps, min(campaign.cps, limits.cps)
                )
                at = _time.monotonic() + wait
                continue
            except NotPlaced as exc:
                if exc.capacity:
                    PLACE_ERRORS.labels("capacity").inc()
                    await self._not_placed(
                        account_sid, claim, exc.code, self._s.worker.retry_not_placed_s
                    )
                    return
                PLACE_ERRORS.labels("refused").inc()
                await self._place_failed(campaign.tenant_id, account_sid, claim, exc)
                return
            except PlaceUnknown as exc:
                PLACE_ERRORS.labels("unknown").inc()
                log.warning(
                    "placement outcome unknown; recovery will ask the provider", error=str(exc)
                )
                await self._retrying(
                    lambda: self._store.expire_claim(claim.attempt_id, self._clock())
                )
                return
            break
        PLACED.labels(str(campaign.id)).inc()
        await self.record_placed(campaign.tenant_id, account_sid, claim, sid)

    async def record_placed(self, tenant: str, account_sid: str, claim: Claimed, sid: str) -> None:
        # The slot's long lease first: a terminal event handled right after the commit frees it.
        await self._retrying(
            lambda: self._pacer.extend_slot(account_sid, claim.campaign_id, claim.attempt_id)
        )
        now = self._clock()
        message = outbox.placed(claim, sid, account_sid, tenant, now)
        check_at = now + timedelta(seconds=self._s.worker.status_check_after_s)
        result = await self._retrying(
            lambda: self._store.record_placed(claim.attempt_id, sid, now, message, check_at)
        )
        if result == "ended":
            await self._pacer.release_slots(account_sid, claim.campaign_id, [claim.attempt_id])

    async def _place_failed(
        self, tenant: str, account_sid: str, claim: Claimed, exc: NotPlaced
    ) -> None:
        now = self._clock()
        message = outbox.place_failed(claim, tenant, exc.code, str(exc), now)
        await self._retrying(
            lambda: self._store.record_place_failed(claim.attempt_id, exc.code, now, message)
        )
        await self._pacer.release_slots(account_sid, claim.campaign_id, [claim.attempt_id])

    async def _not_placed(
        self, account_sid: str, claim: Claimed, code: str | None, retry_in_s: float
    ) -> None:
        retry_at = self._clock() + timedelta(seconds=retry_in_s)
        await self._retrying(
            lambda: self._store.record_not_placed(claim.attempt_id, code, retry_at)
        )
        await self._pacer.release_slots(account_sid, claim.campaign_id, [claim.attempt_id])

    async def _retrying(self, fn: Callable[[], Awaitable[T]]) -> T:
        """Results the provider already acted on must be written: retry through outages."""
        for attempt in range(RECORD_RETRIES):
            try:
                return await fn()
            except RetryableError as exc:
                if attempt == RECORD_RETRIES - 1:
                    raise  # the claim's lease expires and recovery writes it
                log.warning("recording failed; retrying", error=str(exc))
                await asyncio.sleep(0.2 * 2**attempt)
        raise AssertionError("unreachable")

    # -- recovery ---------------------------------------------------------------------------
    async def recover_once(self, limit: int = 100) -> int:
        """Resolve claims whose lease expired by asking the provider; never by redialing."""
        expired = await self._store.take_expired(self._clock(), self.worker_id, self._lease, limit)
        for item in expired:
            claim = item.claimed
            try:
                listed = await self._placer.calls_to(
                    item.account_sid,
                    to=claim.to_number,
                    from_=claim.from_number,
                    since=claim.claimed_at,
                    until=claim.claimed_at + self._lease,
                )
            except ProviderUnavailable as exc:
                # Still leased to this worker: looked up again when that lease runs out.
                CLAIMS_RECOVERED.labels("lookup_failed").inc()
                log.warning("expired claim lookup failed; will retry", error=str(exc))
                continue
            # Calls of earlier attempts (the window allows for clock skew) are recorded already.
            known = await self._store.known_calls({c.sid for c in listed}) if listed else set()
            calls = [c for c in listed if c.sid not in known]
            if calls:
                first = min(calls, key=lambda c: c.created_at or claim.claimed_at)
                if len(calls) > 1:
                    log.error("several calls for one claim", attempt=str(claim.attempt_id))
                tenant = await self._tenant_of(claim.campaign_id)
                await self.record_placed(tenant, item.account_sid, claim, first.sid)
                CLAIMS_RECOVERED.labels("placed").inc()
                log.info("recovered a placed call", attempt=str(claim.attempt_id), sid=first.sid)
            else:
                await self._store.abandon(claim.attempt_id, self._clock())
                await self._pacer.release_slots(
                    item.account_sid, claim.campaign_id, [claim.attempt_id]
                )
                CLAIMS_RECOVERED.labels("abandoned").inc()
                log.info("claim abandoned: the provider has no call", attempt=str(claim.attempt_id))
        return len(expired)

    async def _tenant_of(self, campaign_id: UUID) -> str:
        for c in self._campaigns:
            if c.id == campaign_id:
                return c.tenant_id
        return await self._store.tenant_of(campaign_id)

    async def reconcile_once(self, limit: int = 100) -> int:
        """Placed calls whose final status is overdue (a lost callback) are looked up at the
        provider; an ended one is applied as if its event had arrived. How many ended."""
        recheck = timedelta(seconds=self._s.worker.status_recheck_s)
        ended = 0
        for account_sid, sid in await self._store.take_unsettled(self._clock(), recheck, limit):
            try:
                call = await self._placer.fetch(account_sid, sid)
            except ProviderUnavailable as exc:
                log.warning("overdue call lookup failed; will retry", sid=sid, error=str(exc))
                continue
            if outcome_of(call.status, call.answered_by) is None:
                continue  # still live at the provider: looked up again after ``recheck``
            slot = await self._store.apply_call_status(
                sid, call.status, call.answered_by, self._clock()
            )
            if slot is not None:
                await self._pacer.release_slots(
                    slot.account_sid, slot.campaign_id, [slot.attempt_id]
                )
                RECONCILED.labels(call.status).inc()
                ended += 1
                log.info("final status reconciled from the provider", sid=sid, status=call.status)
        return ended

    async def report_pace(self) -> None:
        """Pace and concurrency gauges: each running campaign's target calls/s, each account's
        slots in use (one Redis count per account) and cap."""
        running = {str(c.id): c for c in await self._running()}
        for campaign_id, campaign in running.items():
            account = self._s.account_for(campaign.account_sid)
            TARGET_CPS.labels(campaign_id).set(
                min(campaign.cps, account[1].cps) if account is not None else 0.0
            )
        for gone in self._paced - running.keys():
            TARGET_CPS.remove(gone)
        self._paced = set(running)
        for account_sid, limits in self._s.twilio.accounts.items():
            IN_FLIGHT.labels(account_sid).set(await self._pacer.in_flight(account_sid))
            MAX_CONCURRENT.labels(account_sid).set(limits.max_concurrent)

    async def run_recovery(self) -> None:
        while True:
            try:
                await self.recover_once()
                await self.reconcile_once()
                await self._store.purge(self._clock())
                await self.report_pace()
            except RetryableError as exc:
                OUTAGE_RETRIES.labels("recovery").inc()
                log.warning("recovery failed; retrying", error=str(exc))
            await asyncio.sleep(self._s.worker.recovery_interval_s)
