"""Everything the simulator remembers during a run: config, records, counters, logs, tasks.

One :class:`SimState` per app (no module globals); ``reset()`` brings it back to the start.
"""

import asyncio
import random
import time
import uuid
from collections import Counter, deque
from collections.abc import Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from switchboard.providersim.limits import AccountLimiter
from switchboard.providersim.settings import SimConfig

TERMINAL_CALL_STATUSES = frozenset({"completed", "busy", "no-answer", "failed", "canceled"})


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(slots=True)
class CallRecord:
    """A simulated Twilio call and the plan drawn for it at creation."""

    sid: str
    account_sid: str
    to: str
    from_: str
    created_at: datetime
    queue_time_ms: int
    status_callback: str | None
    status_events: tuple[str, ...]
    status_method: str
    machine_detection: str | None
    async_amd: bool
    amd_callback: str | None
    timeout_s: int
    time_limit_s: int
    outcome: str
    """The terminal status this call will reach (unless updated first)."""
    ring_s: float
    talk_s: float
    answered_by: str | None
    hold_callbacks: bool
    """Fault: callbacks are held and sent shuffled at the end."""
    drop_final: bool
    """Fault: the terminal callback is never sent."""
    rng: random.Random
    status: str = "queued"
    started_at: datetime | None = None
    answered_at: datetime | None = None
    ended_at: datetime | None = None
    duration_s: int | None = None
    sequence: int = 0
    updated_at: datetime = field(default_factory=utcnow)
    hangup: asyncio.Event = field(default_factory=asyncio.Event)
    requested_status: str | None = None
    record: bool = False
    """``Record=true``: a recording is made of an answered call when it ends."""
    recording_callback: str | None = None
    recording_method: str = "POST"
    twiml_updates: list[str] = field(default_factory=list)
    """TwiML the live call was updated with (``POST Calls/{sid}`` with ``Twiml``)."""

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL_CALL_STATUSES


LOG_MAX = 200_000


@dataclass(slots=True)
class DeliveryRecord:
    """One webhook as the provider saw it, however often it was sent: the ground truth a
    harness compares the stores with (never the services' own counters)."""

    kind: str
    key: str
    """What it is about: ``CallSid:CallStatus:SequenceNumber``, the wamids of a WhatsApp batch
    (comma-separated), ``wamid:status``…"""
    first_sent: float
    """Unix time of the first attempt (wall clock, comparable with a database's ``now()``)."""
    acked: float | None = None
    """Unix time of the first 2xx answer; ``None``: never acknowledged."""
    attempts: int = 0
    """HTTP attempts, retries and duplicate sends included."""
    status: int | None = None
    """The last answer's HTTP status (``None``: no answer, e.g. connection refused)."""
    refused: int = 0
    """Attempts answered with a non-2xx status (e.g. 503 while the broker is away)."""
    unanswered: int = 0
    """Attempts that got no answer (connection refused, timeout)."""

    def row(self) -> list[Any]:
        return [
            self.kind,
            self.key,
            self.first_sent,
            self.acked,
            self.attempts,
            self.status,
            self.refused,
            self.unanswered,
        ]


DELIVERY_COLUMNS = (
    "kind",
    "key",
    "first_sent",
    "acked",
    "attempts",
    "status",
    "refused",
    "unanswered",
)


@dataclass(slots=True)
class SimState:
    """The simulator's memory."""

    config: SimConfig
    rng: random.Random = field(init=False)
    counters: Counter[str] = field(default_factory=Counter)
    log: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=LOG_MAX))
    """The latest calls, messages and webhooks seen or sent, in order (for assertions);
    bounded so a long-running simulator does not grow without end."""
    calls: dict[str, CallRecord] = field(default_factory=dict)
    recordings: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Twilio recordings by sid (as the REST API shows them); deleted ones are removed."""
    messages: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Twilio SMS by sid."""
    whatsapp_replies: list[dict[str, Any]] = field(default_factory=list)
    whatsapp_inbound: list[dict[str, Any]] = field(default_factory=list)
    whatsapp_reads: list[dict[str, Any]] = field(default_factory=list)
    """Read receipts the business sent (``status: read``)."""
    whatsapp_rejected: list[dict[str, Any]] = field(default_factory=list)
    """Sends refused with a Meta error (the body and the code)."""
    whatsapp_windows: dict[tuple[str, str], datetime] = field(default_factory=dict)
    """(phone_number_id, wa_id) → the user's last message: the 24-hour window."""
    whatsapp_media: dict[str, tuple[str, bytes]] = field(default_factory=dict)
    """media id → (mime type, content), served by the Graph media endpoints."""
    whatsapp_errors: list[int] = field(default_factory=list)
    """Error codes the next sends answer, in order (queued by tests)."""
    vapi_calls: dict[str, dict[str, Any]] = field(default_factory=dict)
    elevenlabs_conversations: dict[str, dict[str, Any]] = field(default_factory=dict)
    openai_requests: list[dict[str, Any]] = field(default_factory=list)
    acknowledged_keys: set[str] = field(default_factory=set)
    """Keys of deliveries answered 2xx at least once (duplicates and retries count once)."""
    deliveries: dict[tuple[str, str], DeliveryRecord] = field(default_factory=dict)
    """One record per webhook (kind, key), in the order first sent (``/_sim/deliveries``)."""
    webhook_latencies_ms: list[float] = field(default_factory=list)
    created: int = 0
    """Calls created in this run (the index that seeds each call's RNG)."""
    limiters: dict[str, AccountLimiter] = field(default_factory=dict)
    scenarios: dict[str, asyncio.Task[None]] = field(default_factory=dict)
    _tasks: set[asyncio.Task[Any]] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.config.seed)  # noqa: S311 - simulation, not security

    def limiter(self, account_sid: str) -> AccountLimiter:
        """The account's limiter (created with the account's current limits)."""
        limiter = self.limiters.get(account_sid)
        account = self.config.twilio_accounts[account_sid]
        if limiter is None or limiter.config != account:
            fresh = AccountLimiter(account)
            if limiter is not None:  # keep the observations when limits change mid-run
                fresh.active_calls = limiter.active_calls
            self.limiters[account_sid] = limiter = fresh
        return limiter

    def new_id(self, prefix: str, hex_len: int = 32) -> str:
        """A provider-style id, unique across runs (like the provider's, never reused)."""
        return prefix + (uuid.uuid4().hex * 2)[:hex_len]

    def next_index(self) -> int:
        """A per-run counter: what is drawn for the n-th call depends only on seed and n."""
        self.created += 1
        return self.created

    def delivery(self, kind: str, key: str) -> DeliveryRecord:
        """The record of webhook (kind, key), created at its first attempt."""
        found = self.deliveries.get((kind, key))
        if found is None:
            found = self.deliveries[(kind, key)] = DeliveryRecord(kind, key, time.time())
        return found

    def record(self, kind: str, **data: Any) -> None:
        """Append to the log and count the kind."""
        self.counters[kind] += 1
        self.log.append({"kind": kind, "at": utcnow().isoformat(), **data})

    async def sleep_sim(self, seconds: float) -> None:
        """Sleep ``seconds`` of simulated time (scaled by ``time_scale``)."""
        await asyncio.sleep(max(0.0, seconds * self.config.time_scale))

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run ``coro`` in the background; ``reset``/shutdown cancel it."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    @property
    def busy_tasks(self) -> int:
        return len(self._tasks)

    async def cancel_tasks(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def reset(self, config: SimConfig | None = None) -> None:
        """Cancel every background task and forget everything (optionally with a new config)."""
        await self.cancel_tasks()
        fresh = SimState(config or self.config)
        for name in SimState.__slots__:
            if name != "_tasks":
                setattr(self, name, getattr(fresh, name))


def monotonic() -> float:
    return time.monotonic()
