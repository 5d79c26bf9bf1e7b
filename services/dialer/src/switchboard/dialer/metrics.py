"""The worker's metrics: counters of what happened to calls and claims, and the gauges of
pace and concurrency (refreshed by :class:`PaceGauges` every recovery round)."""

from collections.abc import Iterable
from typing import Final

import structlog
from prometheus_client import Counter, Gauge

from switchboard.common.errors import RetryableError
from switchboard.common.events.calls import CallStatus
from switchboard.common.metrics import start_at_zero
from switchboard.dialer.accounts import Accounts
from switchboard.dialer.repository import Campaign, Pacer

log = structlog.get_logger(__name__)

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
# Known label values exist at 0 from the start (see common.metrics).
start_at_zero(PLACE_ERRORS, [(k,) for k in ("late", "throttled", "capacity", "refused", "unknown")])
start_at_zero(RECONCILED, [(status.value,) for status in CallStatus if status.is_terminal])
PENDING = Gauge("switchboard_dialer_pending_placements", "Claimed calls not yet sent.")
TARGET_CPS = Gauge(
    "switchboard_dialer_target_cps",
    "Target calls/s of each running campaign (its cps, capped by its account's and its "
    "tenant plan's; the tenant's is shared by all its campaigns).",
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
TENANT_IN_FLIGHT = Gauge(
    "switchboard_dialer_tenant_in_flight_calls",
    "Calls holding a concurrency slot, per tenant with a running campaign (all its campaigns "
    "and accounts together).",
    ["tenant"],
)
TENANT_MAX_CONCURRENT = Gauge(
    "switchboard_dialer_tenant_max_concurrent_calls",
    "The tenant plan's concurrent calls, per tenant with a running campaign (0: suspended).",
    ["tenant"],
)


OUTAGE_PAUSE_S: Final = 1.0
"""How long a worker loop pauses after a pass that met an outage."""


def count_outage(loop: str, exc: RetryableError, message: str) -> None:
    """A pass of ``loop`` met an outage: counted and logged (``message``, as the runbooks
    quote it); the loop pauses, never ends."""
    OUTAGE_RETRIES.labels(loop).inc()
    log.warning(message, error=str(exc))


class PaceGauges:
    """Each running campaign's target calls/s; each account's slots in use (one Redis count
    per account) and cap; the same for each tenant with a running campaign. A campaign or
    tenant no longer running loses its series."""

    def __init__(self, accounts: Accounts, pacer: Pacer) -> None:
        self._accounts = accounts
        self._pacer = pacer
        self._paced: set[str] = set()  # campaigns with a TARGET_CPS series
        self._tenants: set[str] = set()  # tenants with TENANT_* series

    async def report(self, running: Iterable[Campaign]) -> None:
        campaigns = {str(c.id): c for c in running}
        for campaign_id, campaign in campaigns.items():
            limits = self._accounts.limits(campaign.tenant_id, campaign.account_sid)
            TARGET_CPS.labels(campaign_id).set(
                limits.cps(campaign.cps) if limits is not None else 0.0
            )
        for gone in self._paced - campaigns.keys():
            TARGET_CPS.remove(gone)
        self._paced = set(campaigns)
        for account in self._accounts.all():
            IN_FLIGHT.labels(account.id).set(await self._pacer.in_flight(account.id))
            MAX_CONCURRENT.labels(account.id).set(account.max_concurrent)
        # Only tenants with a running campaign: a platform may hold thousands of idle ones.
        tenants = {c.tenant_id for c in campaigns.values()}
        for tenant_id in tenants:
            tenant = self._accounts.tenant(tenant_id)
            TENANT_IN_FLIGHT.labels(tenant_id).set(await self._pacer.tenant_in_flight(tenant_id))
            TENANT_MAX_CONCURRENT.labels(tenant_id).set(
                tenant.limits.concurrent_calls if tenant is not None else 0
            )
        for gone in self._tenants - tenants:
            TENANT_IN_FLIGHT.remove(gone)
            TENANT_MAX_CONCURRENT.remove(gone)
        self._tenants = tenants
