"""The records the dial loop, the handlers and the API exchange with storage and the
provider, and the ports they need: one Protocol per store (one real adapter and one fake each;
only the composition root, ``app.py``, knows the adapters)."""

from collections.abc import Awaitable, Callable, Collection, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol, runtime_checkable
from uuid import UUID

from switchboard.common.events import DialAction
from switchboard.dialer.accounts import Accounts
from switchboard.dialer.models import CampaignConfig, Clock


@dataclass(frozen=True, slots=True)
class Lane:
    """Where a call is paced and counted: its tenant (whose plan limits hold over all its
    campaigns and accounts), its provider account and its campaign."""

    tenant_id: str
    account_sid: str
    campaign_id: UUID


@dataclass(frozen=True, slots=True)
class Campaign:
    id: UUID
    tenant_id: str
    name: str
    status: str
    account_sid: str
    cps: float
    max_concurrent: int
    config: CampaignConfig
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @property
    def lane(self) -> Lane:
        return Lane(self.tenant_id, self.account_sid, self.id)


@dataclass(frozen=True, slots=True)
class Claimed:
    """One attempt claimed for a worker: committed before the provider is asked."""

    attempt_id: UUID
    campaign_id: UUID
    contact_id: int
    number: int
    to_number: str
    from_number: str
    claimed_at: datetime
    vars: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    """A Kafka record to publish after the transaction that wrote it commits."""

    topic: str
    key: str | None
    headers: dict[str, str]
    value: bytes


@dataclass(frozen=True, slots=True)
class SlotRef:
    """The in-flight slot an attempt holds (freed when its call ends)."""

    attempt_id: UUID
    campaign_id: UUID
    account_sid: str
    tenant_id: str

    @property
    def lane(self) -> Lane:
        return Lane(self.tenant_id, self.account_sid, self.campaign_id)


@dataclass(frozen=True, slots=True)
class Expired:
    """A claim whose worker did not record a result in time, re-leased for resolution."""

    claimed: Claimed
    account_sid: str
    tenant_id: str

    @property
    def lane(self) -> Lane:
        return Lane(self.tenant_id, self.account_sid, self.claimed.campaign_id)


@dataclass(frozen=True, slots=True)
class MachineVerdict:
    """AMD said a machine answered a live call; what its campaign does then."""

    slot: SlotRef
    call_sid: str
    on_machine: str
    voicemail: str | None = None
    """The campaign's voicemail message, if it leaves one."""


PlacedResult = Literal["placed", "ended", "lost"]
"""``placed``; ``ended`` (a terminal event came first: free its slot); ``lost`` (the claim was
no longer live)."""

Rejected = tuple[int, str, str]
"""A rejected upload row: (line, reason, value)."""


@dataclass(frozen=True, slots=True)
class ProviderCall:
    """A call as the provider lists it."""

    sid: str
    to: str
    from_: str
    status: str
    created_at: datetime | None
    answered_by: str | None = None


@dataclass(slots=True)
class Progress:
    pending: int = 0
    due: int = 0
    in_flight: int = 0
    done: int = 0
    cancelled: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    attempts: int = 0
    calls_per_second: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


class CallPlacer(Protocol):
    """Places calls at the provider (Twilio, or the simulator, or a fake)."""

    async def place(
        self,
        account_sid: str,
        *,
        to: str,
        from_: str,
        twiml: str | None,
        url: str | None,
        amd: bool,
        amd_message_end: bool,
        record: bool = False,
    ) -> str:
        """The provider's call id; raises PlaceError. ``record``: the provider records the
        call and reports the recording to the ingress."""
        ...

    async def calls_to(
        self, account_sid: str, *, to: str, from_: str, since: datetime, until: datetime
    ) -> list[ProviderCall]:
        """Calls to ``to`` from ``from_`` created between ``since`` and ``until``, whatever
        their status (queued ones included)."""
        ...

    async def fetch(self, account_sid: str, call_sid: str) -> ProviderCall:
        """The call as the provider knows it now."""
        ...

    async def hang_up(self, account_sid: str, call_sid: str) -> None: ...

    async def play_and_hang_up(self, account_sid: str, call_sid: str, twiml: str) -> None:
        """Update the live call to play ``twiml`` (a call already over: nothing to do)."""
        ...


class Pacer(Protocol):
    """Global pacing at three levels, each a token bucket and a concurrency cap: the tenant
    (its plan, over all its campaigns and accounts), the provider account and the campaign.
    A call starts no sooner than the slowest of the three allows and takes a slot at each."""

    async def acquire_slots(
        self, lane: Lane, ids: list[UUID], *, tenant_cap: int, account_cap: int, cap: int
    ) -> list[UUID]:
        """Take in-flight slots for as many ``ids`` as the three caps allow (short lease);
        ``cap`` is the campaign's."""
        ...

    async def release_slots(self, lane: Lane, ids: list[UUID]) -> None: ...

    async def extend_slot(self, lane: Lane, attempt_id: UUID) -> None:
        """A placed call keeps its slots until its terminal event (long lease)."""
        ...

    async def schedule(
        self, lane: Lane, count: int, *, tenant_cps: float, account_cps: float, cps: float
    ) -> tuple[float, float]:
        """Reserve ``count`` call starts at the three rates (``cps`` is the campaign's):
        (seconds until the first, spacing in seconds)."""
        ...

    async def throttled(self, account_sid: str) -> None:
        """The provider answered 429: slow the account's bucket down."""
        ...

    async def in_flight(self, account_sid: str, campaign_id: UUID | None = None) -> int: ...

    async def tenant_in_flight(self, tenant_id: str) -> int:
        """Calls of all the tenant's campaigns holding a slot now."""
        ...


class ContactLoader(Protocol):
    """One upload: rows staged as they are validated, merged at the end (one transaction)."""

    async def add(self, rows: Sequence[tuple[int, str, str, str | None]]) -> None:
        """Stage ``(line, e164, zone key, vars json)`` rows."""
        ...

    async def finish(self) -> tuple[int, list[Rejected], dict[str, int]]:
        """Merge: (accepted, up to the limit of rejected rows, counts by reason)."""
        ...


class DoNotCallList(Protocol):
    """The tenants' do-not-call numbers (the API's list, and opt-outs from messages)."""

    async def add_dnc(self, tenant: str, phone: str, reason: str | None) -> bool:
        """True when the number was not listed yet."""
        ...


@runtime_checkable  # Litestar checks injected dependencies against the annotation
class CampaignStore(DoNotCallList, Protocol):
    """The API's side: campaigns, commands, contact uploads, progress, do-not-call."""

    async def create_campaign(self, campaign: Campaign) -> Campaign: ...

    async def get_campaign(self, tenant: str, campaign_id: UUID) -> Campaign:
        """Raises CampaignNotFound (also for another tenant's campaign)."""
        ...

    async def list_campaigns(self, tenant: str, limit: int = 100) -> list[Campaign]: ...

    async def apply_command(
        self, tenant: str, campaign_id: UUID, action: DialAction, message: OutboxMessage
    ) -> Campaign:
        """Change the status and write the command to the outbox, in one transaction."""
        ...

    def contact_loader(
        self, campaign: Campaign, limit: int
    ) -> AbstractAsyncContextManager[ContactLoader]:
        """A loader whose rows commit when the block ends without error."""
        ...

    async def progress(self, campaign: Campaign, now: datetime) -> Progress: ...

    async def remove_dnc(self, tenant: str, phone: str) -> bool: ...

    async def list_dnc(
        self, tenant: str, after: str | None, limit: int
    ) -> list[tuple[str, str | None, datetime]]: ...

    async def is_ready(self) -> bool: ...


class DialingStore(Protocol):
    """The worker's side: running campaigns, claims and their results, outcomes, recovery,
    the outbox. Every write that decides whether a contact is dialed again is one
    transaction."""

    # -- campaigns
    async def running_campaigns(self) -> list[Campaign]: ...

    async def zone_keys(self, campaign_id: UUID) -> list[str]:
        """The distinct zone keys of the campaign's contacts."""
        ...

    async def finish_if_drained(self, campaign_id: UUID) -> bool:
        """Mark a running campaign completed when no contact is pending or dialing."""
        ...

    # -- claims and their results
    async def claim(
        self,
        campaign: Campaign,
        zone_keys: Sequence[str],
        now: datetime,
        attempt_ids: Sequence[UUID],
        worker_id: str,
        lease: timedelta,
    ) -> list[Claimed]:
        """Claim up to ``len(attempt_ids)`` due contacts of a running campaign whose zone key
        is one of ``zone_keys``, their attempt rows written in the same transaction.
        Do-not-call contacts are finished, not claimed."""
        ...

    async def record_placed(
        self,
        attempt_id: UUID,
        call_sid: str,
        now: datetime,
        message: OutboxMessage,
        check_at: datetime,
    ) -> PlacedResult:
        """The CallSid and the outbox row in one transaction; a terminal event that came
        first is applied now. ``check_at``: when to ask the provider if no final status
        has arrived by then."""
        ...

    async def record_not_placed(
        self, attempt_id: UUID, code: str | None, retry_at: datetime
    ) -> None:
        """The provider had no capacity: the attempt does not count; due again at
        ``retry_at``."""
        ...

    async def record_place_failed(
        self, attempt_id: UUID, code: str | None, now: datetime, message: OutboxMessage
    ) -> None:
        """The provider refused the call for good: contact done as failed, message out."""
        ...

    async def expire_claim(self, attempt_id: UUID, now: datetime) -> None:
        """The provider's answer is unknown: hand the claim to recovery at once."""
        ...

    # -- recovery
    async def take_expired(
        self, now: datetime, worker_id: str, lease: timedelta, limit: int
    ) -> list[Expired]:
        """Claims whose lease ran out, re-leased to this worker for resolution."""
        ...

    async def abandon(self, attempt_id: UUID, now: datetime) -> None:
        """The provider has no call for this claim: it never happened; the contact is due."""
        ...

    async def take_unsettled(
        self, now: datetime, recheck: timedelta, limit: int
    ) -> list[tuple[str, str]]:
        """Placed calls whose final status is overdue, as (account, CallSid); each pushed
        ``recheck`` ahead so one replica looks it up at a time."""
        ...

    # -- outcomes
    async def known_calls(self, call_sids: Collection[str]) -> set[str]:
        """Which of these CallSids are the dialer's calls."""
        ...

    async def apply_call_status(
        self, call_sid: str, status: str, answered_by: str | None, now: datetime
    ) -> SlotRef | None:
        """A terminal status ends the attempt and schedules or finishes the contact; the
        slot to free is returned. Unknown sids are kept for when they are recorded."""
        ...

    async def keep_early(self, events: Sequence[tuple[str, str, str | None]]) -> None:
        """Terminal (sid, status, answered_by) of calls not recorded (yet)."""
        ...

    async def apply_early(self, call_sid: str, now: datetime) -> SlotRef | None:
        """Apply a kept early event whose sid has been recorded since."""
        ...

    async def record_machine(self, call_sid: str, answered_by: str) -> MachineVerdict | None:
        """Remember AMD's verdict on a live call; what the campaign does on a machine."""
        ...

    # -- outbox
    async def relay_outbox(
        self, publish: Callable[[Sequence[OutboxMessage]], Awaitable[None]], limit: int = 500
    ) -> int:
        """Publish unsent outbox rows (each replica its own) and mark them sent."""
        ...

    async def purge(self, now: datetime) -> None:
        """Forget sent outbox rows and kept early events past their retention."""
        ...

    async def is_ready(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class WorkerPorts:
    """What a worker's jobs work through: its store, the pacer, the provider and the clock."""

    store: DialingStore
    pacer: Pacer
    placer: CallPlacer
    clock: Clock
    accounts: Accounts
    """The tenants' accounts, caller IDs and limits as the control plane says now."""
