"""In-memory implementations of the dialer's Protocols (``repository.py``), with the same
rules as the adapters, so the dial loop, placement, recovery and the handlers run without a
server: a settable clock, a provider, a pacer (GCRA and slots, as the Redis scripts) and a
store (claims, results, outcomes, outbox, do-not-call, as the PostgreSQL one)."""

import asyncio
import itertools
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from uuid import UUID

from pydantic import SecretStr

from switchboard.common.config import (
    Channel,
    Entity,
    InMemoryConfig,
    PlanLimits,
    Tenant,
    TwilioAccount,
)
from switchboard.dialer.accounts import Accounts
from switchboard.dialer.errors import PlaceUnknown, StoreUnavailable
from switchboard.dialer.models import (
    TRANSITIONS,
    CampaignStatus,
    ContactState,
    choose_caller_id,
    next_step,
    outcome_of,
)
from switchboard.dialer.repository import (
    Campaign,
    Claimed,
    Expired,
    Lane,
    MachineVerdict,
    OutboxMessage,
    PlacedResult,
    ProviderCall,
    SlotRef,
)

ACCOUNT = "AC00000000000000000000000000000001"
"""The provider account of the tests' configuration (held by acme and globex)."""
ACME_CALLER_IDS = ("+12125550100", "+13125550100", "+14155550100")
GLOBEX_CALLER_IDS = ("+16175550100",)
TOKEN = "test-auth-token-0123456789"


def fake_entities(*, cps: float = 1000, concurrent: int = 5000, token: str = TOKEN) -> list[Entity]:
    """What the control plane would publish for the tests: tenants acme and globex sharing
    one Twilio account, each with numbers of its own on it."""
    limits = PlanLimits(calls_per_second=cps, concurrent_calls=concurrent)
    return [
        Tenant(id="acme", name="Acme", limits=limits),
        Tenant(id="globex", name="Globex", limits=limits),
        TwilioAccount(
            id=ACCOUNT,
            tenants=("acme", "globex"),
            auth_tokens=(SecretStr(token),),
            cps=cps,
            max_concurrent=concurrent,
        ),
        *(Channel(kind="phone", id=n, tenant="acme", account_id=ACCOUNT) for n in ACME_CALLER_IDS),
        *(
            Channel(kind="phone", id=n, tenant="globex", account_id=ACCOUNT)
            for n in GLOBEX_CALLER_IDS
        ),
    ]


def fake_config(**limits: float) -> InMemoryConfig:
    return InMemoryConfig(fake_entities(**limits))  # type: ignore[arg-type]


def fake_accounts(**limits: float) -> Accounts:
    return Accounts(fake_config(**limits))


class FakeClock:
    """A clock tests set and move."""

    def __init__(self, now: datetime | None = None) -> None:
        self.now = now or datetime(2026, 11, 23, 15, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class FakePlacer:
    """An in-memory provider: counts calls per number, keeps them live until ``end``."""

    def __init__(self) -> None:
        self.calls: dict[str, ProviderCall] = {}
        self.per_number: Counter[str] = Counter()
        self.live: set[str] = set()
        self.max_live = 0
        self.placed_at: list[float] = []
        """``time.monotonic()`` of each call, as it reached the provider."""
        self.hung_up: list[str] = []
        self.voicemails: dict[str, str] = {}
        """call sid → the TwiML the live call was updated with."""
        self.placed_with: list[dict[str, bool]] = []
        """amd / amd_message_end / record of each place() call."""
        self.failures: list[Exception] = []
        """Raised (in order) by the next place() calls."""
        self.drop_answer = False
        """Create the call but raise PlaceUnknown (the answer got lost)."""
        self._ids = itertools.count(1)

    async def place(
        self, account_sid, *, to, from_, twiml, url, amd, amd_message_end, record=False
    ) -> str:
        if self.failures:
            raise self.failures.pop(0)
        sid = f"CA{next(self._ids):032d}"
        self.placed_with.append({"amd": amd, "amd_message_end": amd_message_end, "record": record})
        self.placed_at.append(time.monotonic())
        self.calls[sid] = ProviderCall(sid, to, from_, "queued", datetime.now(UTC))
        self.per_number[to] += 1
        self.live.add(sid)
        self.max_live = max(self.max_live, len(self.live))
        if self.drop_answer:
            raise PlaceUnknown("answer lost (fake)")
        return sid

    def end(self, sid: str, status: str = "completed", answered_by: str | None = None) -> None:
        self.live.discard(sid)
        if (call := self.calls.get(sid)) is not None:
            self.calls[sid] = ProviderCall(
                sid, call.to, call.from_, status, call.created_at, answered_by
            )

    async def fetch(self, account_sid, call_sid) -> ProviderCall:
        return self.calls[call_sid]

    async def calls_to(self, account_sid, *, to, from_, since, until) -> list[ProviderCall]:
        return [c for c in self.calls.values() if c.to == to and c.from_ == from_]

    async def hang_up(self, account_sid, call_sid) -> None:
        self.hung_up.append(call_sid)

    async def play_and_hang_up(self, account_sid, call_sid, twiml) -> None:
        self.voicemails[call_sid] = twiml


MIN_FACTOR = 0.05


class InMemoryPacer:
    """The Redis pacer's rules in memory, on ``time.monotonic()``: a GCRA bucket per tenant,
    per account and per campaign (no burst beyond ``tolerance_s``), leased slots under three
    caps."""

    def __init__(
        self,
        *,
        claim_lease_s: float = 30.0,
        placed_lease_s: float = 3600.0,
        throttle_backoff_s: float = 0.2,
        throttle_recover_s: float = 1.0,
        tolerance_s: float = 0.0,
    ) -> None:
        self._claim_lease = claim_lease_s
        self._placed_lease = placed_lease_s
        self._backoff = throttle_backoff_s
        self._recover = throttle_recover_s
        self._tolerance = tolerance_s
        self._slots: dict[str, dict[str, float]] = {}
        self._tat: dict[str, float] = {}
        self._factor: dict[str, tuple[float, float]] = {}  # account → (factor, until)
        self.starts: list[tuple[float, float, int]] = []
        """Each ``schedule``: (first start, spacing, count), in ``time.monotonic()``."""
        self.throttles = 0

    @staticmethod
    def _levels(lane: Lane) -> list[str]:
        return [f"tenant:{lane.tenant_id}", f"acct:{lane.account_sid}", f"camp:{lane.campaign_id}"]

    def _set(self, key: str) -> dict[str, float]:
        now = time.monotonic()
        members = self._slots.setdefault(key, {})
        for member, expiry in list(members.items()):
            if expiry <= now:
                del members[member]
        return members

    async def acquire_slots(self, lane, ids, *, tenant_cap, account_cap, cap) -> list[UUID]:
        sets = [self._set(key) for key in self._levels(lane)]
        caps = (tenant_cap, account_cap, cap)
        free = min(c - len(members) for c, members in zip(caps, sets, strict=True))
        granted = list(ids)[: max(0, free)]
        expiry = time.monotonic() + self._claim_lease
        for i in granted:
            for members in sets:
                members[str(i)] = expiry
        return granted

    async def release_slots(self, lane, ids) -> None:
        for key in self._levels(lane):
            for i in ids:
                self._slots.get(key, {}).pop(str(i), None)

    async def extend_slot(self, lane, attempt_id) -> None:
        expiry = time.monotonic() + self._placed_lease
        for key in self._levels(lane):
            self._slots.setdefault(key, {})[str(attempt_id)] = expiry

    def _rate_factor(self, account_sid: str) -> float:
        factor, until = self._factor.get(account_sid, (1.0, 0.0))
        return factor if time.monotonic() < until else 1.0

    async def schedule(self, lane, count, *, tenant_cps, account_cps, cps):
        now = time.monotonic()
        f = self._rate_factor(lane.account_sid)
        # A 429 slows the account and its campaign, not the tenant's other accounts.
        intervals = (1.0 / tenant_cps, 1.0 / account_cps / f, 1.0 / cps / f)
        spacing = max(intervals)
        keys = self._levels(lane)
        start = max(now - self._tolerance, *(self._tat.get(k, 0.0) for k in keys))
        last = start + (count - 1) * spacing
        for key, interval in zip(keys, intervals, strict=True):
            self._tat[key] = last + interval
        self.starts.append((start, spacing, count))
        return max(0.0, start - now), spacing

    async def throttled(self, account_sid) -> None:
        self.throttles += 1
        now = time.monotonic()
        factor = max(self._rate_factor(account_sid) / 2, MIN_FACTOR)
        self._factor[account_sid] = (factor, now + self._recover)
        key = f"acct:{account_sid}"
        self._tat[key] = max(now, self._tat.get(key, 0.0)) + self._backoff

    async def in_flight(self, account_sid, campaign_id=None) -> int:
        key = f"camp:{campaign_id}" if campaign_id is not None else f"acct:{account_sid}"
        return len(self._set(key))

    async def tenant_in_flight(self, tenant_id) -> int:
        return len(self._set(f"tenant:{tenant_id}"))


@dataclass
class Contact:
    id: int
    campaign_id: UUID
    phone: str
    zone_key: str
    vars: dict[str, str]
    state: str = ContactState.PENDING.value
    attempts: int = 0
    outcome: str | None = None
    next_at: datetime = datetime(2000, 1, 1, tzinfo=UTC)


@dataclass
class Attempt:
    id: UUID
    campaign_id: UUID
    contact_id: int
    number: int
    to_number: str
    from_number: str
    worker_id: str
    claimed_at: datetime
    lease_until: datetime
    state: str = "claimed"
    call_sid: str | None = None
    placed_at: datetime | None = None
    outcome: str | None = None
    answered_by: str | None = None
    error_code: str | None = None
    ended_at: datetime | None = None


@dataclass
class InMemoryStore:
    """The PostgreSQL stores' rules over dicts: the worker's
    :class:`~switchboard.dialer.repository.DialingStore` and the do-not-call list, plus what
    a test needs to set up campaigns (``add_campaign``, ``command``)."""

    campaigns: dict[UUID, Campaign] = field(default_factory=dict)
    contacts: dict[int, Contact] = field(default_factory=dict)
    attempts: dict[UUID, Attempt] = field(default_factory=dict)
    early: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    outbox: list[tuple[OutboxMessage, bool]] = field(default_factory=list)
    dnc: dict[tuple[str, str], str | None] = field(default_factory=dict)
    outages: dict[str, int] = field(default_factory=dict)
    """Method name → how many of its next calls fail with StoreUnavailable."""
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))  # type: ignore[type-arg]

    def _check(self, method: str) -> None:
        left = self.outages.get(method, 0)
        if left:
            self.outages[method] = left - 1
            raise StoreUnavailable(f"{method}: the database is down (fake)")

    # -- set-up -----------------------------------------------------------------------------
    def add_campaign(
        self, campaign: Campaign, contacts: Sequence[tuple[str, str, dict[str, str]]]
    ) -> Campaign:
        """A campaign with its (e164, zone key, vars) contacts; ``running``."""
        self.campaigns[campaign.id] = replace(campaign, status=CampaignStatus.RUNNING.value)
        for phone, key, variables in contacts:
            if any(
                c.campaign_id == campaign.id and c.phone == phone for c in self.contacts.values()
            ):
                continue
            cid = next(self._ids)
            self.contacts[cid] = Contact(cid, campaign.id, phone, key, dict(variables))
        return self.campaigns[campaign.id]

    def command(self, campaign_id: UUID, action: str) -> None:
        allowed, target = TRANSITIONS[action]  # type: ignore[index]
        campaign = self.campaigns[campaign_id]
        assert CampaignStatus(campaign.status) in allowed
        self.campaigns[campaign_id] = replace(campaign, status=target.value)
        if target is CampaignStatus.CANCELLED:
            for c in self.contacts.values():
                if c.campaign_id == campaign_id and c.state == ContactState.PENDING.value:
                    c.state = ContactState.CANCELLED.value

    def contact(self, phone: str) -> tuple[str, int, str | None]:
        (c,) = [c for c in self.contacts.values() if c.phone == phone]
        return c.state, c.attempts, c.outcome

    def sent(self) -> list[OutboxMessage]:
        return [m for m, _ in self.outbox]

    # -- DoNotCallList ----------------------------------------------------------------------
    async def add_dnc(self, tenant: str, phone: str, reason: str | None) -> bool:
        self._check("add_dnc")
        if (tenant, phone) in self.dnc:
            return False
        self.dnc[tenant, phone] = reason
        return True

    # -- DialingStore: campaigns ------------------------------------------------------------
    async def running_campaigns(self) -> list[Campaign]:
        self._check("running_campaigns")
        return [c for c in self.campaigns.values() if c.status == CampaignStatus.RUNNING.value]

    async def zone_keys(self, campaign_id: UUID) -> list[str]:
        self._check("zone_keys")
        return sorted({c.zone_key for c in self.contacts.values() if c.campaign_id == campaign_id})

    async def finish_if_drained(self, campaign_id: UUID) -> bool:
        self._check("finish_if_drained")
        campaign = self.campaigns[campaign_id]
        open_states = (ContactState.PENDING.value, ContactState.DIALING.value)
        busy = any(
            c.campaign_id == campaign_id and c.state in open_states for c in self.contacts.values()
        )
        if campaign.status != CampaignStatus.RUNNING.value or busy:
            return False
        self.campaigns[campaign_id] = replace(campaign, status=CampaignStatus.COMPLETED.value)
        return True

    # -- claims and their results -----------------------------------------------------------
    async def claim(
        self,
        campaign: Campaign,
        zone_keys: Sequence[str],
        now: datetime,
        attempt_ids: Sequence[UUID],
        worker_id: str,
        lease: timedelta,
    ) -> list[Claimed]:
        self._check("claim")
        if not attempt_ids or not zone_keys:
            return []
        if self.campaigns[campaign.id].status != CampaignStatus.RUNNING.value:
            return []
        due = sorted(
            (
                c
                for c in self.contacts.values()
                if c.campaign_id == campaign.id
                and c.state == ContactState.PENDING.value
                and c.zone_key in zone_keys
                and c.next_at <= now
            ),
            key=lambda c: c.next_at,
        )[: len(attempt_ids)]
        allowed = []
        for c in due:
            if (campaign.tenant_id, c.phone) in self.dnc:
                c.state, c.outcome = ContactState.DONE.value, "do_not_call"
            else:
                allowed.append(c)
        cfg = campaign.config
        claims = []
        for attempt_id, c in zip(attempt_ids, allowed, strict=False):
            from_number = choose_caller_id(
                cfg.caller_ids, cfg.caller_id_strategy, c.phone, c.id + c.attempts
            )
            claim = Claimed(
                attempt_id, campaign.id, c.id, c.attempts + 1, c.phone, from_number, now, c.vars
            )
            c.state, c.attempts = ContactState.DIALING.value, c.attempts + 1
            self.attempts[attempt_id] = Attempt(
                attempt_id,
                campaign.id,
                c.id,
                claim.number,
                c.phone,
                from_number,
                worker_id,
                now,
                now + lease,
            )
            claims.append(claim)
        return claims

    async def record_placed(
        self,
        attempt_id: UUID,
        call_sid: str,
        now: datetime,
        message: OutboxMessage,
        check_at: datetime,
    ) -> PlacedResult:
        self._check("record_placed")
        attempt = self.attempts[attempt_id]
        if attempt.state != "claimed":
            return "lost"
        attempt.state, attempt.call_sid = "placed", call_sid
        attempt.placed_at, attempt.lease_until = now, check_at
        self.outbox.append((message, False))
        kept = self.early.pop(call_sid, None)
        if kept is not None:
            self._apply(call_sid, kept[0], kept[1], now)
        return "ended" if kept is not None else "placed"

    def _uncount(self, attempt_id: UUID, state: str, code: str | None, due_at: datetime) -> None:
        attempt = self.attempts[attempt_id]
        if attempt.state != "claimed":
            return
        attempt.state, attempt.error_code, attempt.ended_at = state, code, due_at
        contact = self.contacts[attempt.contact_id]
        contact.state, contact.attempts = ContactState.PENDING.value, contact.attempts - 1
        contact.next_at = due_at

    async def record_not_placed(
        self, attempt_id: UUID, code: str | None, retry_at: datetime
    ) -> None:
        self._check("record_not_placed")
        self._uncount(attempt_id, "not_placed", code, retry_at)

    async def record_place_failed(
        self, attempt_id: UUID, code: str | None, now: datetime, message: OutboxMessage
    ) -> None:
        self._check("record_place_failed")
        attempt = self.attempts[attempt_id]
        if attempt.state != "claimed":
            return
        attempt.state, attempt.outcome, attempt.error_code = "place_failed", "failed", code
        attempt.ended_at = now
        contact = self.contacts[attempt.contact_id]
        contact.state, contact.outcome = ContactState.DONE.value, "failed"
        self.outbox.append((message, False))

    async def expire_claim(self, attempt_id: UUID, now: datetime) -> None:
        self._check("expire_claim")
        attempt = self.attempts[attempt_id]
        if attempt.state == "claimed":
            attempt.lease_until = now

    # -- recovery ---------------------------------------------------------------------------
    async def take_expired(
        self, now: datetime, worker_id: str, lease: timedelta, limit: int
    ) -> list[Expired]:
        self._check("take_expired")
        expired = sorted(
            (a for a in self.attempts.values() if a.state == "claimed" and a.lease_until <= now),
            key=lambda a: a.lease_until,
        )[:limit]
        taken = []
        for a in expired:
            a.lease_until, a.worker_id = now + lease, worker_id
            campaign = self.campaigns[a.campaign_id]
            claimed = Claimed(
                a.id, a.campaign_id, a.contact_id, a.number, a.to_number, a.from_number,
                a.claimed_at,
            )  # fmt: skip
            taken.append(Expired(claimed, campaign.account_sid, campaign.tenant_id))
        return taken

    async def abandon(self, attempt_id: UUID, now: datetime) -> None:
        self._check("abandon")
        self._uncount(attempt_id, "abandoned", None, now)

    async def take_unsettled(
        self, now: datetime, recheck: timedelta, limit: int
    ) -> list[tuple[str, str]]:
        self._check("take_unsettled")
        overdue = sorted(
            (a for a in self.attempts.values() if a.state == "placed" and a.lease_until <= now),
            key=lambda a: a.lease_until,
        )[:limit]
        for a in overdue:
            a.lease_until = now + recheck
        return [(self.campaigns[a.campaign_id].account_sid, str(a.call_sid)) for a in overdue]

    # -- outcomes ---------------------------------------------------------------------------
    def _by_sid(self, call_sid: str) -> Attempt | None:
        return next((a for a in self.attempts.values() if a.call_sid == call_sid), None)

    async def known_calls(self, call_sids: Collection[str]) -> set[str]:
        self._check("known_calls")
        return {a.call_sid for a in self.attempts.values() if a.call_sid in call_sids}  # type: ignore[misc]

    def _apply(
        self, call_sid: str, status: str, answered_by: str | None, now: datetime
    ) -> SlotRef | None:
        attempt = self._by_sid(call_sid)
        if attempt is None:
            if outcome_of(status, answered_by) is not None:
                self.early.setdefault(call_sid, (status, answered_by))
            return None
        answered_by = answered_by or attempt.answered_by
        outcome = outcome_of(status, answered_by)
        if outcome is None or attempt.state != "placed":
            if answered_by and attempt.state == "placed":
                attempt.answered_by = answered_by
            return None
        attempt.state, attempt.outcome = "ended", outcome.value
        attempt.answered_by, attempt.ended_at = answered_by, now
        contact = self.contacts[attempt.contact_id]
        campaign = self.campaigns[attempt.campaign_id]
        state, next_at = next_step(outcome, contact.attempts, campaign.config, now)
        if contact.state == ContactState.DIALING.value:
            contact.state, contact.outcome = state.value, outcome.value
            if next_at is not None:
                contact.next_at = next_at
        return SlotRef(attempt.id, attempt.campaign_id, campaign.account_sid, campaign.tenant_id)

    async def apply_call_status(
        self, call_sid: str, status: str, answered_by: str | None, now: datetime
    ) -> SlotRef | None:
        self._check("apply_call_status")
        return self._apply(call_sid, status, answered_by, now)

    async def keep_early(self, events: Sequence[tuple[str, str, str | None]]) -> None:
        self._check("keep_early")
        for sid, status, answered_by in events:
            self.early.setdefault(sid, (status, answered_by))

    async def apply_early(self, call_sid: str, now: datetime) -> SlotRef | None:
        self._check("apply_early")
        kept = self.early.pop(call_sid, None)
        return None if kept is None else self._apply(call_sid, kept[0], kept[1], now)

    async def record_machine(self, call_sid: str, answered_by: str) -> MachineVerdict | None:
        self._check("record_machine")
        attempt = self._by_sid(call_sid)
        if attempt is None or attempt.state != "placed":
            return None
        attempt.answered_by = answered_by
        campaign = self.campaigns[attempt.campaign_id]
        slot = SlotRef(attempt.id, attempt.campaign_id, campaign.account_sid, campaign.tenant_id)
        amd = campaign.config.amd
        return MachineVerdict(slot, call_sid, amd.on_machine, amd.voicemail_message)

    # -- outbox -----------------------------------------------------------------------------
    async def relay_outbox(
        self, publish: Callable[[Sequence[OutboxMessage]], Awaitable[None]], limit: int = 500
    ) -> int:
        self._check("relay_outbox")
        unsent = [i for i, (_, sent) in enumerate(self.outbox) if not sent][:limit]
        if not unsent:
            return 0
        await publish([self.outbox[i][0] for i in unsent])
        for i in unsent:
            self.outbox[i] = (self.outbox[i][0], True)
        return len(unsent)

    async def purge(self, now: datetime) -> None:
        self._check("purge")

    async def is_ready(self) -> bool:
        return True


async def settle(until: Callable[[], bool], *, timeout_s: float = 30.0) -> None:
    """Let the loop run (placements are tasks) until ``until()``; generous for a busy box."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not until():
        assert loop.time() < deadline, "did not settle"
        await asyncio.sleep(0.01)
