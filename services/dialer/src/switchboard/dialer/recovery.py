"""Recovery of claims whose worker vanished (or whose placement's answer was lost).

An expired claim is resolved by listing the provider's calls to that number from that caller
id created in the claim's lease (by creation time: a call still queued has no start time),
leaving out calls recorded for another attempt: found → recorded as placed; not found → the
attempt never happened and the contact is due again. Never by dialing: a failed lookup leaves
the claim (still leased to this worker) for a later round.
"""

from datetime import timedelta

import structlog

from switchboard.dialer.errors import ProviderUnavailable
from switchboard.dialer.metrics import CLAIMS_RECOVERED
from switchboard.dialer.placement import Placement
from switchboard.dialer.repository import Expired, WorkerPorts
from switchboard.dialer.settings import DialerSettings

log = structlog.get_logger(__name__)


class Recovery:
    """Resolves expired claims by asking the provider."""

    def __init__(
        self, settings: DialerSettings, ports: WorkerPorts, placement: Placement, worker_id: str
    ) -> None:
        self._store, self._pacer, self._placer = ports.store, ports.pacer, ports.placer
        self._clock = ports.clock
        self._placement = placement
        self._worker_id = worker_id
        self._lease = timedelta(seconds=settings.worker.claim_lease_s)

    async def recover_once(self, limit: int = 100) -> int:
        """Resolve up to ``limit`` expired claims; how many were taken."""
        expired = await self._store.take_expired(self._clock(), self._worker_id, self._lease, limit)
        for item in expired:
            await self._resolve(item)
        return len(expired)

    async def _resolve(self, item: Expired) -> None:
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
            return
        # Calls of earlier attempts (the window allows for clock skew) are recorded already.
        known = await self._store.known_calls({c.sid for c in listed}) if listed else set()
        calls = [c for c in listed if c.sid not in known]
        if calls:
            first = min(calls, key=lambda c: c.created_at or claim.claimed_at)
            if len(calls) > 1:
                log.error("several calls for one claim", attempt=str(claim.attempt_id))
            await self._placement.record_placed(item.lane, claim, first.sid)
            CLAIMS_RECOVERED.labels("placed").inc()
            log.info("recovered a placed call", attempt=str(claim.attempt_id), sid=first.sid)
        else:
            await self._store.abandon(claim.attempt_id, self._clock())
            await self._pacer.release_slots(item.lane, [claim.attempt_id])
            CLAIMS_RECOVERED.labels("abandoned").inc()
            log.info("claim abandoned: the provider has no call", attempt=str(claim.attempt_id))
