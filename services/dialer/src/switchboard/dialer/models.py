"""Campaign rules with no I/O: calling windows, retries, caller-id choice, opt-out keywords."""

import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, time, timedelta
from enum import StrEnum
from functools import lru_cache
from string import Template
from typing import Literal, Protocol
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

import phonenumbers
from pydantic import BaseModel, ConfigDict, Field, model_validator

from switchboard.common.events import DialAction

ALL_DAYS = (1, 2, 3, 4, 5, 6, 7)


class CampaignStatus(StrEnum):
    DRAFT = "draft"
    RUNNING = "running"
    PAUSED = "paused"
    CANCELLED = "cancelled"
    COMPLETED = "completed"


TRANSITIONS: dict[DialAction, tuple[frozenset[CampaignStatus], CampaignStatus]] = {
    "start": (frozenset({CampaignStatus.DRAFT}), CampaignStatus.RUNNING),
    "pause": (frozenset({CampaignStatus.RUNNING}), CampaignStatus.PAUSED),
    "resume": (frozenset({CampaignStatus.PAUSED}), CampaignStatus.RUNNING),
    "cancel": (
        frozenset({CampaignStatus.DRAFT, CampaignStatus.RUNNING, CampaignStatus.PAUSED}),
        CampaignStatus.CANCELLED,
    ),
}
"""Each dial action (common's ``DialAction``) → (the statuses it applies to, the result)."""


class Outcome(StrEnum):
    """How one attempt ended (``machine``: answering machine per AMD)."""

    COMPLETED = "completed"
    BUSY = "busy"
    NO_ANSWER = "no-answer"
    FAILED = "failed"
    MACHINE = "machine"
    CANCELED = "canceled"


class ContactState(StrEnum):
    PENDING = "pending"
    DIALING = "dialing"
    DONE = "done"
    CANCELLED = "cancelled"


class CallingWindow(BaseModel):
    """Local-time window in which a contact may be called; ``end`` is exclusive."""

    model_config = ConfigDict(frozen=True)

    start: time = time(8, 0)
    end: time = time(21, 0)
    days: tuple[int, ...] = Field(default=ALL_DAYS, description="ISO weekdays, 1 = Monday.")

    @model_validator(mode="after")
    def _check(self) -> "CallingWindow":
        if self.start >= self.end:
            raise ValueError("window start must be before its end")
        if not self.days or any(d not in ALL_DAYS for d in self.days):
            raise ValueError("days must be ISO weekdays 1..7")
        return self

    def narrowed_to(self, safe_start: time, safe_end: time) -> "CallingWindow":
        """This window inside the safe one (a campaign may narrow it, never widen it)."""
        start, end = max(self.start, safe_start), min(self.end, safe_end)
        if start >= end:
            raise ValueError(f"window must overlap {safe_start:%H:%M}-{safe_end:%H:%M}")
        return CallingWindow(start=start, end=end, days=tuple(sorted(set(self.days))))

    def contains(self, local: datetime) -> bool:
        return local.isoweekday() in self.days and self.start <= local.time() < self.end


@lru_cache(maxsize=1024)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def zone_key(zones: Iterable[str]) -> str:
    """Canonical key of a set of candidate zones (what the contacts table stores)."""
    return ",".join(sorted(set(zones)))


def callable_now(now: datetime, key: str, window: CallingWindow) -> bool:
    """True when it is inside ``window`` in *every* zone the contact could be in."""
    return all(window.contains(now.astimezone(_zone(z))) for z in key.split(","))


def callable_keys(now: datetime, keys: Iterable[str], window: CallingWindow) -> list[str]:
    return [k for k in keys if callable_now(now, k, window)]


class RetryDelays(BaseModel):
    """Seconds before the next attempt after each retryable outcome."""

    busy: int = Field(default=600, ge=0)
    no_answer: int = Field(default=1800, ge=0)
    failed: int = Field(default=3600, ge=0)
    machine: int = Field(default=3600, ge=0)

    def for_outcome(self, outcome: Outcome) -> int | None:
        return {
            Outcome.BUSY: self.busy,
            Outcome.NO_ANSWER: self.no_answer,
            Outcome.FAILED: self.failed,
            Outcome.MACHINE: self.machine,
        }.get(outcome)


MachineAction = Literal["continue", "hangup", "retry"]


MACHINE_ENDS = frozenset({"machine_end_beep", "machine_end_silence", "machine_end_other"})
"""AMD verdicts of ``DetectMessageEnd`` after the greeting: the moment to leave a voicemail."""


class Amd(BaseModel):
    """Answering-machine detection: ``continue`` plays the answer to the machine (a message),
    ``hangup`` ends the call and the contact, ``retry`` ends the call and tries again later.

    ``voicemail_message``: asks for async AMD with ``DetectMessageEnd`` (whatever
    ``enabled`` says); when a machine's greeting has ended (``machine_end_*``) the live call
    is updated to say this message and hang up, instead of what ``on_machine`` says."""

    enabled: bool = False
    on_machine: MachineAction = "continue"
    voicemail_message: str | None = Field(default=None, min_length=1, max_length=4000)

    @property
    def detects(self) -> bool:
        return self.enabled or self.voicemail_message is not None

    @property
    def waits_for_message_end(self) -> bool:
        return self.voicemail_message is not None or self.on_machine == "continue"


def voicemail_twiml(message: str) -> str:
    """The TwiML a machine's live call is updated with: the message, then hang up."""
    return f"<Response><Say>{escape(message)}</Say><Hangup/></Response>"


def leaves_voicemail(voicemail: str | None, answered_by: str | None) -> bool:
    """A voicemail is left when the campaign has one and the greeting has ended."""
    return voicemail is not None and answered_by in MACHINE_ENDS


class CampaignConfig(BaseModel):
    """What a campaign does, stored as JSON with the campaign."""

    caller_ids: list[str] = Field(min_length=1)
    caller_id_strategy: Literal["round_robin", "local_presence"] = "round_robin"
    twiml: str | None = None
    """TwiML template; ``$name``-style placeholders take CSV columns (XML-escaped)."""
    url: str | None = None
    window: CallingWindow = Field(default_factory=CallingWindow)
    max_attempts: int = Field(default=3, ge=1, le=20)
    retry_delays: RetryDelays = Field(default_factory=RetryDelays)
    amd: Amd = Field(default_factory=Amd)
    record: bool = False
    """Record each call (Twilio ``Record=true``); the recording status callback goes to the
    ingress and history keeps the recording (deletable through its API)."""


def next_step(
    outcome: Outcome,
    attempts: int,
    config: CampaignConfig,
    now: datetime,
) -> tuple[ContactState, datetime | None]:
    """After an attempt: pending again at a time, or done."""
    if outcome is Outcome.MACHINE and config.amd.on_machine != "retry":
        return ContactState.DONE, None
    delay = config.retry_delays.for_outcome(outcome)
    if delay is None or attempts >= config.max_attempts:
        return ContactState.DONE, None
    return ContactState.PENDING, now + timedelta(seconds=delay)


def outcome_of(status: str, answered_by: str | None) -> Outcome | None:
    """The outcome of a terminal status (``None`` for non-terminal ones)."""
    if status == "completed":
        return Outcome.MACHINE if is_machine(answered_by) else Outcome.COMPLETED
    try:
        outcome = Outcome(status)
    except ValueError:
        return None
    return outcome if outcome is not Outcome.MACHINE else None


def is_machine(answered_by: str | None) -> bool:
    return bool(answered_by) and (
        answered_by.startswith("machine") or answered_by == "fax"  # type: ignore[union-attr]
    )


def _area(number: str) -> tuple[int, str] | None:
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException:
        return None
    national = str(parsed.national_number)
    length = phonenumbers.length_of_geographical_area_code(parsed)
    return parsed.country_code or 0, national[:length] if length else ""


def choose_caller_id(pool: Sequence[str], strategy: str, to: str, counter: int) -> str:
    """Round robin over ``pool`` by ``counter``; local presence prefers the contact's area
    code, then its country, then round robin."""
    fallback = pool[counter % len(pool)]
    if strategy != "local_presence":
        return fallback
    target = _area(to)
    if target is None:
        return fallback
    areas = [(n, _area(n)) for n in pool]
    same_area = [n for n, a in areas if a is not None and target[1] and a == target]
    if same_area:
        return same_area[counter % len(same_area)]
    same_country = [n for n, a in areas if a is not None and a[0] == target[0]]
    if same_country:
        return same_country[counter % len(same_country)]
    return fallback


_WS = re.compile(r"[\s\-_.!]+")


def is_opt_out(text: str | None, keywords: Iterable[str]) -> bool:
    """A message that is only an opt-out keyword (case, spacing and punctuation ignored)."""
    if not text:
        return False
    normalized = _WS.sub("", text).upper()
    return normalized in {_WS.sub("", k).upper() for k in keywords}


def render_twiml(template: str, variables: dict[str, str]) -> str:
    """The campaign's TwiML with the contact's CSV columns filled in (XML-escaped)."""
    return Template(template).safe_substitute({k: escape(v) for k, v in variables.items()})


class Clock(Protocol):
    """What time it is (``utcnow``, or a test's settable clock)."""

    def __call__(self) -> datetime: ...


def utcnow() -> datetime:
    return datetime.now(UTC)
