"""A business on live calls: its voice channels, opening hours, transfer destinations, tools
and assistant settings, and the pure rules over them (what is open when, where to transfer,
which ElevenLabs overrides may go out, how knowledge is spoken). No I/O.

Times are the business's own: every rule takes the current instant and looks at it in the
business's time zone (``zoneinfo``), so "open on Sunday" and "transfer to the front desk
until 18:00" mean the business's Sunday and 18:00 wherever the call is handled.
"""

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final, Literal
from zoneinfo import ZoneInfo

from switchboard.common.crypto import Sealed

WEEKDAYS: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY_NAMES: Final = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MINUTES_PER_DAY: Final = 24 * 60
ToolKind = Literal["search_knowledge", "opening_hours", "transfer", "http"]
TOOL_KINDS: Final[tuple[ToolKind, ...]] = ("search_knowledge", "opening_hours", "transfer", "http")
ELEVENLABS_OVERRIDES: Final = (
    "agent.first_message",
    "agent.language",
    "agent.prompt.prompt",
    "tts.voice_id",
)
"""The ``conversation_config_override`` fields ElevenLabs lets an agent allow (Security tab)."""


def parse_clock(text: str) -> int:
    """``"HH:MM"`` → minutes after midnight (``"24:00"`` is the end of the day)."""
    found = re.fullmatch(r"([01]\d|2[0-4]):([0-5]\d)", text)
    if found is None:
        raise ValueError(f"{text!r} is not HH:MM")
    minutes = int(found.group(1)) * 60 + int(found.group(2))
    if minutes > MINUTES_PER_DAY:
        raise ValueError(f"{text!r} is after 24:00")
    return minutes


def clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


@dataclass(frozen=True, slots=True)
class Interval:
    """``[start, end)`` in minutes after midnight, local time; ``end`` up to 1440."""

    start: int
    end: int

    def __post_init__(self) -> None:
        if not 0 <= self.start < self.end <= MINUTES_PER_DAY:
            raise ValueError(f"{clock(self.start)}-{clock(self.end)} is not a time range of a day")

    def holds(self, minute: int) -> bool:
        return self.start <= minute < self.end

    def describe(self) -> str:
        return f"{clock(self.start)} to {clock(self.end)}"


@dataclass(frozen=True, slots=True)
class TransferRule:
    """Transfer to ``number`` on ``days`` between ``window`` (local time)."""

    days: tuple[str, ...]
    window: Interval
    number: str
    message: str | None = None


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """A tool the business's assistant may call during a call."""

    name: str
    kind: ToolKind
    description: str = ""
    url: str | None = None
    """``http`` tools: the tenant's HTTPS endpoint."""
    signing_secret: Sealed | None = field(default=None, repr=False)
    """``http`` tools: the Standard Webhooks secret (``whsec_…``), sealed at rest."""
    timeout_s: float = 3.0
    """``http`` tools: the longest the endpoint may take (the platform's deadline may cut it)."""


@dataclass(frozen=True, slots=True)
class VoiceProfile:
    """How a business answers live calls."""

    channels: tuple[str, ...] = ()
    """Channels it answers (``vapi-phone/<id>``, ``phone/<E.164>``, ``vapi-assistant/<id>``,
    ``elevenlabs-agent/<id>``); each must be bound to the business's tenant in the control
    plane, and one business per tenant serves a channel."""
    time_zone: str = "UTC"
    hours: Mapping[str, tuple[Interval, ...]] = field(default_factory=dict, hash=False)
    """Opening hours by weekday (``mon`` … ``sun``); a day not listed is closed."""
    vapi_assistant_id: str | None = None
    """A saved Vapi assistant answered to ``assistant-request``."""
    vapi_assistant: Mapping[str, Any] | None = field(default=None, hash=False)
    """Or a transient assistant definition, passed to Vapi as it is."""
    variables: Mapping[str, str] = field(default_factory=dict, hash=False)
    """Extra variable values for the assistant (beside the ones computed per call)."""
    transfer_rules: tuple[TransferRule, ...] = ()
    """Checked in order; the first whose day and time hold gives the destination."""
    transfer_number: str | None = None
    """Outside every rule (None: no transfer then)."""
    transfer_message: str | None = None
    """Spoken before a transfer, or instead of one when there is no destination."""
    elevenlabs_allowed_overrides: tuple[str, ...] = ()
    """The fields the ElevenLabs agent allows to override (its Security tab)."""
    elevenlabs_overrides: Mapping[str, Any] = field(default_factory=dict, hash=False)
    """Override values by dotted path (``agent.first_message`` …); only allowed ones go out."""
    tools: tuple[ToolSpec, ...] = ()

    def tool(self, name: str) -> ToolSpec | None:
        return next((t for t in self.tools if t.name == name), None)


def local_time(profile: VoiceProfile, now: datetime) -> datetime:
    """``now`` (aware) in the business's time zone."""
    return now.astimezone(ZoneInfo(profile.time_zone))


def _weekday(local: datetime) -> str:
    return WEEKDAYS[local.weekday()]


def _minute(local: datetime) -> int:
    return local.hour * 60 + local.minute


def hours_on(profile: VoiceProfile, day: str) -> tuple[Interval, ...]:
    return profile.hours.get(day, ())


def describe_day(profile: VoiceProfile, day: str) -> str:
    """``"12:00 to 22:00"``, ``"08:00 to 12:00 and 14:00 to 18:00"`` or ``"closed"``."""
    intervals = hours_on(profile, day)
    return " and ".join(i.describe() for i in intervals) if intervals else "closed"


def open_at(profile: VoiceProfile, now: datetime) -> bool:
    local = local_time(profile, now)
    minute = _minute(local)
    return any(i.holds(minute) for i in hours_on(profile, _weekday(local)))


def hours_answer(profile: VoiceProfile, now: datetime, day: str | None) -> str:
    """A short spoken answer about the opening hours of ``day`` (a weekday name or
    abbreviation, ``today``, ``tomorrow``; None: today, and whether it is open now)."""
    local = local_time(profile, now)
    wanted = _day_of(day, local)
    if wanted is None:
        week = "; ".join(
            f"{DAY_NAMES[n]}: {describe_day(profile, d)}" for n, d in enumerate(WEEKDAYS)
        )
        return f"Opening hours ({profile.time_zone}): {week}."
    name = DAY_NAMES[WEEKDAYS.index(wanted)]
    described = describe_day(profile, wanted)
    text = f"Closed on {name}." if described == "closed" else f"Open on {name} from {described}."
    if day is None or wanted == _weekday(local):
        text += " Open now." if open_at(profile, now) else " Closed right now."
    return text


def _day_of(day: str | None, local: datetime) -> str | None:
    """The weekday meant (None when ``day`` asks for the whole week or is not understood)."""
    if day is None or not day.strip():
        return _weekday(local)
    text = day.strip().lower()
    if text in ("today", "now", "tonight"):
        return _weekday(local)
    if text == "tomorrow":
        return _weekday(local + timedelta(days=1))
    return next((d for d in WEEKDAYS if text.startswith(d)), None)


def transfer_destination(profile: VoiceProfile, now: datetime) -> tuple[str | None, str | None]:
    """(number, message) for a transfer at ``now``: the first rule of the day and time,
    else the default number (None: no transfer now)."""
    local = local_time(profile, now)
    day, minute = _weekday(local), _minute(local)
    for rule in profile.transfer_rules:
        if day in rule.days and rule.window.holds(minute):
            return rule.number, rule.message or profile.transfer_message
    return profile.transfer_number, profile.transfer_message


def allowed_overrides(allowed: Iterable[str], values: Mapping[str, Any]) -> dict[str, Any] | None:
    """ElevenLabs ``conversation_config_override`` from dotted-path ``values``, keeping only
    the paths ``allowed`` (the agent ignores the rest, or refuses the call)."""
    permitted = set(allowed)
    tree: dict[str, Any] = {}
    for path, value in values.items():
        if path not in permitted:
            continue
        node = tree
        *parents, leaf = path.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return tree or None


def spoken_knowledge(texts: Iterable[str], max_chars: int) -> str:
    """Knowledge chunks as short text to be read out: markup removed, whitespace folded, the
    best chunk first, cut at a sentence (or word) near ``max_chars``."""
    cleaned = []
    for text in texts:
        # A heading is read as a sentence of its own ("Opening hours. We are open ...").
        plain = re.sub(r"^\s*#+\s*(.*?)[.:!?]?\s*$", r"\1.", text, flags=re.MULTILINE)
        plain = re.sub(r"[*_`>|]+", "", plain)
        plain = " ".join(plain.split())
        if plain:
            cleaned.append(plain)
    joined = " ".join(cleaned)
    if len(joined) <= max_chars:
        return joined
    cut = joined[:max_chars]
    end = max(cut.rfind(". "), cut.rfind("! "), cut.rfind("? "))
    if end > max_chars // 3:
        return cut[: end + 1]
    return cut.rsplit(" ", 1)[0] + " …"
