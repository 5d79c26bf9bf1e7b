"""Records the handlers and the API exchange with storage, and the ports they need."""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

from switchboard.dialer.models import CampaignConfig


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
    ) -> str:
        """The provider's call id; raises PlaceError."""
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


class Pacer(Protocol):
    """Global pacing per provider account: a token bucket and a concurrency cap."""

    async def acquire_slots(
        self, account_sid: str, campaign_id: UUID, ids: list[UUID], account_cap: int, cap: int
    ) -> list[UUID]:
        """Take in-flight slots for as many ``ids`` as the caps allow (short lease)."""
        ...

    async def release_slots(self, account_sid: str, campaign_id: UUID, ids: list[UUID]) -> None: ...

    async def extend_slot(self, account_sid: str, campaign_id: UUID, attempt_id: UUID) -> None:
        """A placed call keeps its slot until its terminal event (long lease)."""
        ...

    async def schedule(
        self, account_sid: str, campaign_id: UUID, count: int, account_cps: float, cps: float
    ) -> tuple[float, float]:
        """Reserve ``count`` call starts: (seconds until the first, spacing in seconds)."""
        ...

    async def throttled(self, account_sid: str) -> None:
        """The provider answered 429: slow the account's bucket down."""
        ...

    async def in_flight(self, account_sid: str, campaign_id: UUID | None = None) -> int: ...
