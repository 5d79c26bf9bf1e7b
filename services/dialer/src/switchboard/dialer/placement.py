"""Placing one claimed call and recording what the provider did with it.

A claim waits for its pacing slot (and the send gate), is sent only inside its send window
(``send_by``: after that recovery may already be looking at it), and its result is written
whatever happens: placed (CallSid + ``call.placed`` in the outbox), refused for good
(``call.place_failed``), not placed for capacity (due again, the attempt uncounted), or
unknown (handed to recovery at once: never resent). A result the provider already acted on is
written through short outages (:data:`RECORD_RETRY`); past them the claim's lease runs out
and recovery writes it.
"""

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Final, TypeVar

import structlog

from switchboard.common.retry import RetryPolicy, call_with_retries
from switchboard.dialer import outbox
from switchboard.dialer.errors import NotPlaced, PlaceUnknown, Throttled
from switchboard.dialer.metrics import PLACE_ERRORS, PLACED
from switchboard.dialer.models import render_twiml
from switchboard.dialer.repository import Campaign, Claimed, Lane, WorkerPorts
from switchboard.dialer.send_gate import CATCH_UP, SendGate
from switchboard.dialer.settings import DialerSettings

log = structlog.get_logger(__name__)
T = TypeVar("T")

RECORD_RETRY: Final = RetryPolicy(
    attempts=5, initial_backoff_s=0.2, max_backoff_s=1.6, jitter_s=0.05
)
"""Writing a result through an outage: pauses of 0.2, 0.4, 0.8, 1.6 s (3 s in all, well inside
a claim's lease), then the error propagates and recovery writes it."""


class Placement:
    """Sends claimed calls at their paced start and records the provider's answer."""

    def __init__(self, settings: DialerSettings, ports: WorkerPorts) -> None:
        self._s = settings
        self._store, self._pacer, self._placer = ports.store, ports.pacer, ports.placer
        self._clock = ports.clock
        self._accounts = ports.accounts
        self._gate = SendGate()

    async def place(
        self, campaign: Campaign, claim: Claimed, at: float, send_by: float, spacing: float
    ) -> None:
        """Send ``claim`` at ``at`` (monotonic), but never after ``send_by``; a 429 reserves a
        new start and sends it again."""
        cfg = campaign.config
        lane, account_sid = campaign.lane, campaign.account_sid
        twiml = render_twiml(cfg.twiml, claim.vars) if cfg.twiml is not None else None
        while True:
            await asyncio.sleep(max(0.0, at - time.monotonic()))
            await self._gate.wait_turn(campaign.id, spacing / CATCH_UP)
            if time.monotonic() > send_by:
                # Too late to send safely: recovery may already be looking at this claim.
                PLACE_ERRORS.labels("late").inc()
                await self._not_placed(lane, claim, "late", retry_in_s=0.0)
                return
            try:
                sid = await self._placer.place(
                    account_sid,
                    to=claim.to_number,
                    from_=claim.from_number,
                    twiml=twiml,
                    url=cfg.url,
                    amd=cfg.amd.detects,
                    amd_message_end=cfg.amd.waits_for_message_end,
                    record=cfg.record,
                )
            except Throttled:
                PLACE_ERRORS.labels("throttled").inc()
                await self._pacer.throttled(account_sid)
                limits = self._accounts.limits(campaign.tenant_id, account_sid)
                if limits is None:  # withdrawn meanwhile: due again once it is back
                    await self._not_placed(lane, claim, None, self._s.worker.retry_not_placed_s)
                    return
                wait, _ = await self._pacer.schedule(
                    lane,
                    1,
                    tenant_cps=limits.tenant_cps,
                    account_cps=limits.account_cps,
                    cps=limits.cps(campaign.cps),
                )
                at = time.monotonic() + wait
                continue
            except NotPlaced as exc:
                if exc.capacity:
                    PLACE_ERRORS.labels("capacity").inc()
                    await self._not_placed(lane, claim, exc.code, self._s.worker.retry_not_placed_s)
                    return
                PLACE_ERRORS.labels("refused").inc()
                await self._place_failed(lane, claim, exc)
                return
            except PlaceUnknown as exc:
                PLACE_ERRORS.labels("unknown").inc()
                log.warning(
                    "placement outcome unknown; recovery will ask the provider", error=str(exc)
                )
                await _recorded(lambda: self._store.expire_claim(claim.attempt_id, self._clock()))
                return
            break
        PLACED.labels(str(campaign.id)).inc()
        await self.record_placed(lane, claim, sid)

    async def record_placed(self, lane: Lane, claim: Claimed, sid: str) -> None:
        """The provider has call ``sid`` for ``claim`` (from its answer, or found by
        recovery): the slots keep it until its end, the attempt records it."""
        # The slots' long lease first: a terminal event handled right after the commit frees them.
        await _recorded(lambda: self._pacer.extend_slot(lane, claim.attempt_id))
        now = self._clock()
        message = outbox.placed(claim, sid, lane.account_sid, lane.tenant_id, now)
        check_at = now + timedelta(seconds=self._s.worker.status_check_after_s)
        result = await _recorded(
            lambda: self._store.record_placed(claim.attempt_id, sid, now, message, check_at)
        )
        if result == "ended":
            await self._pacer.release_slots(lane, [claim.attempt_id])

    async def _place_failed(self, lane: Lane, claim: Claimed, exc: NotPlaced) -> None:
        now = self._clock()
        message = outbox.place_failed(claim, lane.tenant_id, exc.code, str(exc), now)
        await _recorded(
            lambda: self._store.record_place_failed(claim.attempt_id, exc.code, now, message)
        )
        await self._pacer.release_slots(lane, [claim.attempt_id])

    async def _not_placed(
        self, lane: Lane, claim: Claimed, code: str | None, retry_in_s: float
    ) -> None:
        retry_at = self._clock() + timedelta(seconds=retry_in_s)
        await _recorded(lambda: self._store.record_not_placed(claim.attempt_id, code, retry_at))
        await self._pacer.release_slots(lane, [claim.attempt_id])


def _retrying(exc: BaseException) -> None:
    log.warning("recording failed; retrying", error=str(exc))


async def _recorded(write: Callable[[], Awaitable[T]]) -> T:
    """``write()`` through short outages (:data:`RECORD_RETRY`)."""
    return await call_with_retries(write, RECORD_RETRY, on_retry=_retrying)
