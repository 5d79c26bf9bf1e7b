"""Admin API models of a business's voice profile (never reused as events). Tool signing
secrets are write-only: answers say ``has_signing_secret``."""

import base64
import binascii
import re
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from switchboard.ai.voice_models import (
    ELEVENLABS_OVERRIDES,
    WEEKDAYS,
    Interval,
    ToolKind,
    VoiceProfile,
    clock,
    parse_clock,
)
from switchboard.common.voice import check_channel_refs

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
E164 = r"^\+[1-9][0-9]{6,14}$"
SECRET_PREFIX = "whsec_"  # noqa: S105 - the format's prefix, not a secret


def parse_interval(text: str) -> Interval:
    """``"12:00-22:00"`` → Interval (``"00:00-24:00"`` for the whole day)."""
    start, sep, end = text.partition("-")
    if not sep:
        raise ValueError(f"{text!r} is not HH:MM-HH:MM")
    return Interval(parse_clock(start.strip()), parse_clock(end.strip()))


def interval_text(i: Interval) -> str:
    return f"{clock(i.start)}-{clock(i.end)}"


def _signing_secret(value: str) -> str:
    """Standard Webhooks: ``whsec_`` + base64 of 24 to 64 random bytes."""
    if not value.startswith(SECRET_PREFIX):
        raise ValueError("a signing secret starts with whsec_")
    try:
        raw = base64.b64decode(value[len(SECRET_PREFIX) :], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("a signing secret is whsec_ + base64") from exc
    if not 24 <= len(raw) <= 64:
        raise ValueError("a signing secret carries 24 to 64 bytes")
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TransferRuleIn(_Strict):
    days: list[Weekday] = Field(min_length=1)
    window: str = Field(description="Local time, HH:MM-HH:MM, e.g. 09:00-18:00.")
    number: str = Field(pattern=E164)
    message: str | None = Field(default=None, max_length=500)

    @field_validator("window")
    @classmethod
    def _window(cls, value: str) -> str:
        parse_interval(value)
        return value


class ToolIn(_Strict):
    name: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    """As the platform's assistant calls it (Vapi function name, ElevenLabs tool path)."""
    kind: ToolKind
    description: str = Field(default="", max_length=1000)
    url: str | None = Field(default=None, max_length=2000)
    """``http`` tools: the tenant's HTTPS endpoint (private and loopback addresses are refused
    outside the local environment)."""
    signing_secret: str | None = Field(default=None)
    """``http`` tools, write-only: ``whsec_`` + base64 of 24-64 random bytes; requests carry
    Standard Webhooks signatures with it. Kept when an update leaves it out."""
    timeout_s: float = Field(default=3.0, gt=0, le=15)

    @field_validator("signing_secret")
    @classmethod
    def _secret(cls, value: str | None) -> str | None:
        return None if value is None else _signing_secret(value)

    @model_validator(mode="after")
    def _http(self) -> "ToolIn":
        if self.kind == "http":
            if not self.url or not re.match(r"^https?://[^/\s]+", self.url):
                raise ValueError("an http tool needs an http(s) url")
        elif self.url is not None or self.signing_secret is not None:
            raise ValueError("url and signing_secret are for http tools only")
        return self


class VoiceIn(_Strict):
    """How the business answers live calls (replaced as a whole by a PATCH)."""

    channels: list[str] = Field(default_factory=list, max_length=50)
    """``vapi-phone/<id>``, ``phone/<E.164>``, ``vapi-assistant/<id>``,
    ``elevenlabs-agent/<id>``: bound to this tenant in the control plane."""
    time_zone: str = "UTC"
    hours: dict[Weekday, list[str]] = Field(default_factory=dict)
    """Local opening hours per weekday, e.g. ``{"sun": ["12:00-22:00"]}``; unlisted: closed."""
    vapi_assistant_id: str | None = Field(default=None, max_length=200)
    vapi_assistant: dict[str, Any] | None = None
    """A transient Vapi assistant (as Vapi's ``POST /assistant`` takes it)."""
    variables: dict[str, str] = Field(default_factory=dict, max_length=50)
    transfer_rules: list[TransferRuleIn] = Field(default_factory=list, max_length=50)
    transfer_number: str | None = Field(default=None, pattern=E164)
    transfer_message: str | None = Field(default=None, max_length=500)
    elevenlabs_allowed_overrides: list[str] = Field(default_factory=list)
    elevenlabs_overrides: dict[str, Any] = Field(default_factory=dict)
    tools: list[ToolIn] = Field(default_factory=list, max_length=20)

    @field_validator("channels")
    @classmethod
    def _channels(cls, refs: list[str]) -> list[str]:
        check_channel_refs(refs)
        if len(set(refs)) != len(refs):
            raise ValueError("a channel is listed twice")
        return refs

    @field_validator("variables")
    @classmethod
    def _variables(cls, value: dict[str, str]) -> dict[str, str]:
        bad = sorted(k for k in value if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,63}", k))
        if bad:
            raise ValueError(f"variable names are identifiers: {', '.join(bad)}")
        return value

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"{value!r} is not an IANA time zone") from exc
        return value

    @field_validator("hours")
    @classmethod
    def _hours(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for spans in value.values():
            for text in spans:
                parse_interval(text)
        return value

    @field_validator("elevenlabs_allowed_overrides")
    @classmethod
    def _allowed(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - set(ELEVENLABS_OVERRIDES))
        if unknown:
            raise ValueError(f"not an ElevenLabs override: {', '.join(unknown)}")
        return value

    @field_validator("elevenlabs_overrides")
    @classmethod
    def _overrides(cls, value: dict[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(value) - set(ELEVENLABS_OVERRIDES))
        if unknown:
            raise ValueError(f"not an ElevenLabs override: {', '.join(unknown)}")
        return value

    @field_validator("tools")
    @classmethod
    def _tools(cls, tools: list[ToolIn]) -> list[ToolIn]:
        names = [t.name for t in tools]
        if len(set(names)) != len(names):
            raise ValueError("two tools share a name")
        return tools


class ToolOut(BaseModel):
    name: str
    kind: str
    description: str
    url: str | None
    timeout_s: float
    has_signing_secret: bool


class VoiceOut(BaseModel):
    channels: list[str]
    time_zone: str
    hours: dict[str, list[str]]
    vapi_assistant_id: str | None
    vapi_assistant: dict[str, Any] | None
    variables: dict[str, str]
    transfer_rules: list[TransferRuleIn]
    transfer_number: str | None
    transfer_message: str | None
    elevenlabs_allowed_overrides: list[str]
    elevenlabs_overrides: dict[str, Any]
    tools: list[ToolOut]

    @classmethod
    def of(cls, p: VoiceProfile) -> "VoiceOut":
        return cls(
            channels=list(p.channels),
            time_zone=p.time_zone,
            hours={
                day: [interval_text(i) for i in p.hours[day]] for day in WEEKDAYS if day in p.hours
            },
            vapi_assistant_id=p.vapi_assistant_id,
            vapi_assistant=dict(p.vapi_assistant) if p.vapi_assistant is not None else None,
            variables=dict(p.variables),
            transfer_rules=[
                TransferRuleIn(
                    days=list(r.days),
                    window=interval_text(r.window),
                    number=r.number,
                    message=r.message,
                )
                for r in p.transfer_rules
            ],
            transfer_number=p.transfer_number,
            transfer_message=p.transfer_message,
            elevenlabs_allowed_overrides=list(p.elevenlabs_allowed_overrides),
            elevenlabs_overrides=dict(p.elevenlabs_overrides),
            tools=[
                ToolOut(
                    name=t.name,
                    kind=t.kind,
                    description=t.description,
                    url=t.url,
                    timeout_s=t.timeout_s,
                    has_signing_secret=t.signing_secret is not None,
                )
                for t in p.tools
            ],
        )
