"""One worker's jobs over the store, the pacer and the provider, built together: the dial loop
(with the placement it hands claims to), and the recovery round (expired claims, lost final
callbacks, the outbox's and early events' retention, the pace gauges). ``app.py`` runs
``loop.run`` and ``run_recovery`` under its supervisor; tests and benchmarks drive the parts.
"""

import asyncio
import uuid

from switchboard.common.errors import RetryableError
from switchboard.dialer.accounts import Accounts
from switchboard.dialer.dial_loop import DialLoop
from switchboard.dialer.metrics import PaceGauges, count_outage
from switchboard.dialer.models import Clock, utcnow
from switchboard.dialer.placement import Placement
from switchboard.dialer.reconciliation import Reconciliation
from switchboard.dialer.recovery import Recovery
from switchboard.dialer.repository import CallPlacer, DialingStore, Pacer, WorkerPorts
from switchboard.dialer.settings import DialerSettings


class DialWorker:
    """A worker's dial loop, placement, recovery and reconciliation over the same ports."""

    def __init__(
        self,
        settings: DialerSettings,
        store: DialingStore,
        pacer: Pacer,
        placer: CallPlacer,
        *,
        accounts: Accounts,
        clock: Clock = utcnow,
        worker_id: str | None = None,
    ) -> None:
        worker_id = worker_id or settings.worker.worker_id or f"w-{uuid.uuid4().hex[:8]}"
        self._s = settings
        self._store = store
        self._clock = clock
        ports = WorkerPorts(store, pacer, placer, clock, accounts)
        self.placement = Placement(settings, ports)
        self.loop = DialLoop(settings, ports, self.placement, worker_id)
        self.recovery = Recovery(settings, ports, self.placement, worker_id)
        self.reconciliation = Reconciliation(settings, ports)
        self.gauges = PaceGauges(accounts, pacer)

    async def recovery_round(self) -> None:
        await self.recovery.recover_once()
        await self.reconciliation.reconcile_once()
        await self._store.purge(self._clock())
        await self.gauges.report(await self.loop.campaigns.running())

    async def run_recovery(self) -> None:
        """A recovery round every ``worker.recovery_interval_s`` until cancelled; an outage
        skips a round, never ends the loop."""
        while True:
            try:
                await self.recovery_round()
            except RetryableError as exc:
                count_outage("recovery", exc, "recovery failed; retrying")
            await asyncio.sleep(self._s.worker.recovery_interval_s)
