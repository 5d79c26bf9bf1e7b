"""Admin API request and response models (never reused as events). Tokens are write-only."""

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from switchboard.ai.models import Business


class BusinessSettingsFields(BaseModel):
    """Fields shared by create and update."""

    model_config = ConfigDict(extra="forbid")

    system_prompt: str | None = Field(default=None, max_length=20_000)
    model: str | None = None
    temperature: float | None = Field(default=None, ge=0, le=2)
    max_tokens: int | None = Field(default=None, ge=1, le=16_384)
    """The answer's budget; reasoning models also get ``openai.reasoning_headroom_tokens``."""
    reasoning_effort: Literal["none", "minimal", "low", "medium", "high", "xhigh"] | None = None
    """Reasoning models only (null: the model's default); a value the model's family does not
    take is left out."""
    memory_messages: int | None = Field(default=None, ge=0, le=200)
    """How many earlier turns of the conversation go into the prompt."""
    rate_limit_per_minute: int | None = Field(default=None, ge=0)
    """Replies per minute (0: unlimited)."""
    monthly_spend_limit_usd: float | None = Field(default=None, ge=0)
    """Model spend per calendar month in USD (0: unlimited)."""
    fallback_text: str | None = Field(default=None, max_length=4096)
    """Sent when over a limit or the model is down; empty: send nothing."""
    active: bool | None = None
    whatsapp_phone_number_ids: list[str] | None = None
    twilio_numbers: list[str] | None = None
    twilio_account_sid: str | None = None
    whatsapp_access_token: str | None = Field(default=None, min_length=1)
    """Write-only: stored encrypted, never returned."""
    twilio_auth_token: str | None = Field(default=None, min_length=1)
    """Write-only: stored encrypted, never returned."""


class BusinessCreate(BusinessSettingsFields):
    name: str = Field(min_length=1, max_length=200)


class BusinessUpdate(BusinessSettingsFields):
    name: str | None = Field(default=None, min_length=1, max_length=200)


class BusinessOut(BaseModel):
    id: str
    name: str
    whatsapp_phone_number_ids: list[str]
    twilio_numbers: list[str]
    twilio_account_sid: str | None
    system_prompt: str
    model: str
    temperature: float
    max_tokens: int
    reasoning_effort: str | None
    memory_messages: int
    rate_limit_per_minute: int
    monthly_spend_limit_usd: float
    fallback_text: str | None
    active: bool
    has_whatsapp_token: bool
    has_twilio_token: bool
    version: int

    @classmethod
    def of(cls, b: Business) -> "BusinessOut":
        return cls(
            id=b.id,
            name=b.name,
            whatsapp_phone_number_ids=list(b.whatsapp_phone_number_ids),
            twilio_numbers=list(b.twilio_numbers),
            twilio_account_sid=b.twilio_account_sid,
            system_prompt=b.system_prompt,
            model=b.model,
            temperature=b.temperature,
            max_tokens=b.max_tokens,
            reasoning_effort=b.reasoning_effort,
            memory_messages=b.memory_messages,
            rate_limit_per_minute=b.rate_limit_per_minute,
            monthly_spend_limit_usd=b.monthly_spend_limit_usd,
            fallback_text=b.fallback_text,
            active=b.active,
            has_whatsapp_token=b.whatsapp_token is not None,
            has_twilio_token=b.twilio_token is not None,
            version=b.version,
        )


class DocumentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=300)
    """Cited in replies that use the document."""
    content: str = Field(min_length=1)
    """Plain text or Markdown."""


class DocumentOut(BaseModel):
    doc_id: str
    title: str
    status: str
    """``pending`` until the embedding job processed the current content, then ``ready``."""
    content_hash: str
    chunks: int
    updated_at: datetime


class UsageOut(BaseModel):
    business_id: str
    day: str
    prompt_tokens: int
    completion_tokens: int
    replies: int
    fallbacks: int
    cost_usd: float
