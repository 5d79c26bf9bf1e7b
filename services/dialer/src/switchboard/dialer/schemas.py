"""API request and response models (never reused as events)."""

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, field_validator, model_validator

from switchboard.dialer.models import Amd, CallingWindow, CampaignConfig, RetryDelays
from switchboard.dialer.phones import normalize


class CampaignIn(BaseModel):
    """A new campaign (created as ``draft``; ``POST …/start`` starts it)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    caller_ids: list[str] = Field(min_length=1, description="E.164 numbers to call from.")
    caller_id_strategy: Literal["round_robin", "local_presence"] = "round_robin"
    twiml: str | None = Field(
        default=None, description="TwiML template; $column placeholders take CSV columns."
    )
    url: AnyHttpUrl | None = Field(default=None, description="Or: the TwiML URL Twilio fetches.")
    window: CallingWindow = Field(default_factory=CallingWindow)
    max_attempts: int = Field(default=3, ge=1, le=20)
    retry_delays: RetryDelays = Field(default_factory=RetryDelays)
    amd: Amd = Field(
        default_factory=Amd,
        description="Answering-machine detection; amd.voicemail_message leaves that message "
        "on machines (async AMD, DetectMessageEnd) and lets humans hear the campaign's TwiML.",
    )
    record: bool = Field(default=False, description="Record each call (Twilio Record=true).")
    cps: float = Field(default=1.0, gt=0, description="Calls per second (capped by the account).")
    max_concurrent: int = Field(default=10, ge=1, description="Live calls (capped likewise).")
    account_sid: str | None = Field(default=None, description="Provider account (default one).")

    @field_validator("caller_ids")
    @classmethod
    def _e164(cls, numbers: list[str]) -> list[str]:
        out = []
        for n in numbers:
            e164 = normalize(n)
            if e164 is None:
                raise ValueError(f"not a valid phone number: {n!r}")
            out.append(e164)
        return list(dict.fromkeys(out))

    @model_validator(mode="after")
    def _answer(self) -> "CampaignIn":
        if (self.twiml is None) == (self.url is None):
            raise ValueError("give exactly one of twiml or url")
        return self


class CampaignOut(BaseModel):
    id: UUID
    name: str
    status: str
    account_sid: str
    cps: float
    max_concurrent: int
    config: CampaignConfig
    created_at: datetime | None
    updated_at: datetime | None


class Rejection(BaseModel):
    line: int
    reason: str
    value: str


class UploadOut(BaseModel):
    accepted: int
    rejected: int
    rejected_by_reason: dict[str, int]
    rejections: list[Rejection] = Field(description="The first rejected rows, by line.")


class ProgressOut(BaseModel):
    campaign_id: UUID
    status: str
    total: int
    pending: int
    due: int = Field(description="Pending and due now (calling windows aside).")
    in_flight: int
    done: int
    cancelled: int
    outcomes: dict[str, int]
    attempts: int
    calls_per_second: float = Field(description="Calls placed per second, last 10 s.")
    eta_seconds: float | None = Field(description="Pending ÷ current rate (first attempts).")


class DncIn(BaseModel):
    phone: str
    reason: str | None = None


class DncOut(BaseModel):
    phone: str
    reason: str | None
    created_at: datetime | None = None
