"""The worker's dial loop: for each running campaign, take in-flight slots, claim due contacts
inside their calling window, reserve their paced starts, and hand each claim to
:class:`~switchboard.dialer.placement.Placement`.

Never dialing twice rests on three rules:
1. a claim (contact → ``dialing`` + attempt row) commits *before* the provider is asked;
2. a worker sends a claim's request only before ``claim_lease - request_timeout - margin``,
   so once the lease has expired no request for it can still be on its way;
3. an expired claim is resolved by asking the provider, never by dialing again
   (:mod:`~switchboard.dialer.recovery`).
"""

import asyncio
import contextlib
import math
import time
import uuid
from collections.abc import Coroutine
from datetime import timedelta
from typing import Any, Final
from uuid import UUID

import structlog

from switchboard.common.errors import RetryableError
from switchboard.dialer.metrics import OUTAGE_PAUSE_S, PENDING, count_outage
from switchboard.dialer.models import callable_keys
from switchboard.dialer.placement import Placement
from switchboard.dialer.repository import Campaign, DialingStore, WorkerPorts
from switchboard.dialer.settings import DialerSettings

log = structlog.get_logger(__name__)

SEND_MARGIN_S: Final = 2.0
"""A claim is sent no later than this before its lease would let recovery take it."""
CAMPAIGN_CACHE_S: Final = 1.0
"""Running campaigns are read at most this often (a command wakes the loop at once)."""
ZONE_CACHE_S: Final = 5.0
DRAIN_CHECK_S: Final = 2.0
"""A campaign with nothing to claim is checked for completion at most this often."""
BOOKED_AHEAD_S: Final = 0.5
"""When the pacing bucket is booked further ahead than this, the loop waits ..."""
CLAIM_LEAD_S: Final = 0.3
"""... until this long before the batch's first start: claims are made no earlier than
needed."""


class RunningCampaigns:
    """The running campaigns and their contacts' zone keys, read at most every
    :data:`CAMPAIGN_CACHE_S` / :data:`ZONE_CACHE_S` (a command clears the first at once)."""

    def __init__(self, store: DialingStore) -> None:
        self._store = store
        self._campaigns: list[Campaign] = []
        self._campaigns_at = -math.inf
        self._zones: dict[UUID, tuple[float, list[str]]] = {}

    def forget(self) -> None:
        self._campaigns_at = -math.inf

    async def running(self) -> list[Campaign]:
        if time.monotonic() - self._campaigns_at > CAMPAIGN_CACHE_S:
            self._campaigns = await self._store.running_campaigns()
            self._campaigns_at = time.monotonic()
        return self._campaigns

    async def zone_keys(self, campaign_id: UUID) -> list[str]:
        cached = self._zones.get(campaign_id)
        if cached is None or time.monotonic() - cached[0] > ZONE_CACHE_S:
            cached = (time.monotonic(), await self._store.zone_keys(campaign_id))
            self._zones[campaign_id] = cached
        return cached[1]


class DialLoop:
    """Claims batches for the running campaigns and schedules their placements."""

    def __init__(
        self, settings: DialerSettings, ports: WorkerPorts, placement: Placement, worker_id: str
    ) -> None:
        self._s = settings
        self._store, self._pacer, self._clock = ports.store, ports.pacer, ports.clock
        self._accounts = ports.accounts
        self._placement = placement
        self.worker_id = worker_id
        self.campaigns = RunningCampaigns(ports.store)
        self._wake = asyncio.Event()
        self._drain_checked: dict[UUID, float] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        lease = settings.worker.claim_lease_s
        self._lease = timedelta(seconds=lease)
        self._send_window_s = lease - settings.twilio.request_timeout_s - SEND_MARGIN_S
        if self._send_window_s <= 0:
            raise ValueError("worker.claim_lease_s must exceed twilio.request_timeout_s + 2 s")

    def wake(self) -> None:
        """A command arrived: re-read campaigns now."""
        self.campaigns.forget()
        self._wake.set()

    # -- the loop ---------------------------------------------------------------------------
    async def run(self) -> None:
        """Dial until cancelled; storage outages pause the loop, never end it."""
        try:
            while True:
                try:
                    pause = await self.step()
                except RetryableError as exc:
                    count_outage("dial", exc, "dial step failed; retrying")
                    pause = OUTAGE_PAUSE_S
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
        for campaign in await self.campaigns.running():
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
        # The limits as the control plane says now: a lowered one applies to the next batch.
        limits = self._accounts.limits(campaign.tenant_id, campaign.account_sid)
        if limits is None:
            return 0
        lane = campaign.lane
        now = self._clock()
        zone_keys = await self.campaigns.zone_keys(campaign.id)
        keys = callable_keys(now, zone_keys, campaign.config.window)
        if not keys:
            return 0
        cps = limits.cps(campaign.cps)
        size = max(1, min(self._s.worker.max_batch, math.ceil(cps * self._s.worker.batch_window_s)))
        ids = [uuid.uuid4() for _ in range(size)]
        # The tenant's plan caps all its campaigns together: its level is the pacer's.
        granted = await self._pacer.acquire_slots(
            lane,
            ids,
            tenant_cap=limits.tenant_concurrent,
            account_cap=limits.account_concurrent,
            cap=limits.concurrent(campaign.max_concurrent),
        )
        if not granted:
            return None
        claimed_at = time.monotonic()
        try:
            claims = await self._store.claim(
                campaign, keys, now, granted, self.worker_id, self._lease
            )
        except BaseException:
            await self._pacer.release_slots(lane, granted)
            raise
        unused = granted[len(claims) :]
        if unused:
            await self._pacer.release_slots(lane, unused)
        if not claims:
            await self._maybe_finish(campaign.id)
            return 0
        wait, spacing = await self._pacer.schedule(
            lane,
            len(claims),
            tenant_cps=limits.tenant_cps,
            account_cps=limits.account_cps,
            cps=cps,
        )
        start = time.monotonic() + wait
        send_by = claimed_at + self._send_window_s
        for i, claim in enumerate(claims):
            self._spawn(
                self._placement.place(campaign, claim, start + i * spacing, send_by, spacing)
            )
        if wait > BOOKED_AHEAD_S:  # do not claim further ahead than needed
            await asyncio.sleep(wait - CLAIM_LEAD_S)
        return len(claims)

    async def _maybe_finish(self, campaign_id: UUID) -> None:
        last = self._drain_checked.get(campaign_id, -math.inf)
        if time.monotonic() - last > DRAIN_CHECK_S:
            self._drain_checked[campaign_id] = time.monotonic()
            if await self._store.finish_if_drained(campaign_id):
                log.info("campaign completed", campaign=str(campaign_id))
                self.wake()

    # -- placements in flight ---------------------------------------------------------------
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
