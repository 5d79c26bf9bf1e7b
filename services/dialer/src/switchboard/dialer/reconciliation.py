"""Placed calls whose final callback never came: settled by asking the provider.

A placed call with no final status ``status_check_after_s`` after placing is fetched from the
provider (one replica at a time: the store pushes each one's next look ahead as it hands it
out). Ended there → applied exactly as its event would have been (outcome, retry, slot freed);
still live → looked up again after ``status_recheck_s``.
"""

from datetime import timedelta

import structlog

from switchboard.dialer.errors import ProviderUnavailable
from switchboard.dialer.metrics import RECONCILED
from switchboard.dialer.models import outcome_of
from switchboard.dialer.repository import WorkerPorts
from switchboard.dialer.settings import DialerSettings

log = structlog.get_logger(__name__)


class Reconciliation:
    """Fetches overdue calls from the provider and applies the ended ones."""

    def __init__(self, settings: DialerSettings, ports: WorkerPorts) -> None:
        self._store, self._pacer, self._placer = ports.store, ports.pacer, ports.placer
        self._clock = ports.clock
        self._recheck = timedelta(seconds=settings.worker.status_recheck_s)

    async def reconcile_once(self, limit: int = 100) -> int:
        """Look up to ``limit`` overdue calls; how many had ended."""
        ended = 0
        for account_sid, sid in await self._store.take_unsettled(
            self._clock(), self._recheck, limit
        ):
            try:
                call = await self._placer.fetch(account_sid, sid)
            except ProviderUnavailable as exc:
                log.warning("overdue call lookup failed; will retry", sid=sid, error=str(exc))
                continue
            if outcome_of(call.status, call.answered_by) is None:
                continue  # still live at the provider: looked up again after the recheck
            slot = await self._store.apply_call_status(
                sid, call.status, call.answered_by, self._clock()
            )
            if slot is not None:
                await self._pacer.release_slots(slot.lane, [slot.attempt_id])
                RECONCILED.labels(call.status).inc()
                ended += 1
                log.info("final status reconciled from the provider", sid=sid, status=call.status)
        return ended
