"""Admin API request and response models (never reused as events). Tokens are write-only."""

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from switchboard.ai.models import Business, Template
from switchboard.ai.voice_schemas import VoiceIn, VoiceOut


class TemplateIn(BaseModel):
    """An approved WhatsApp template: sent instead of free text outside the 24-hour window."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=512, pattern=r"^[a-z0-9_]+$")
    """As approved in WhatsApp Manager."""
    language: str = Field(min_length=2, max_length=15, pattern=r"^[a-z]{2,3}(_[A-Za-z]{2,4})?$")
    """The approved translation, e.g. ``en_US``."""
    parameters: list[str] = Field(default_factory=list, max_length=20)
    """Body parameters {{1}}, {{2}} ... in order; ``{contact_name}`` is replaced by the
    customer's profile name."""

    def to_template(self) -> Template:
        return Template(self.name, self.language, tuple(self.parameters))

    @classmethod
    def of(cls, t: Template) -> "TemplateIn":
        return cls(name=t.name, language=t.language, parameters=list(t.parameters))


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
    message_types: dict[str, Literal["answer", "fallback", "ignore"]] | None = Field(
        default=None, max_length=50
    )
    """Per inbound message type (image, location, interactive, reaction, ...): ``answer`` (the
    model, given a description), ``fallback`` (the fallback text) or ``ignore``. Unlisted types
    follow the defaults: reaction and system ignored, unsupported answered by the fallback,
    everything else answered."""
    whatsapp_template: TemplateIn | None = None
    """Sent when the 24-hour window is closed; null: nothing is sent then."""
    read_receipts: bool | None = None
    """Mark answered WhatsApp messages as read."""
    fetch_media: bool | None = None
    """Download WhatsApp images and text documents with the business token for the model."""
    active: bool | None = None
    whatsapp_phone_number_ids: list[str] | None = None
    twilio_numbers: list[str] | None = None
    twilio_account_sid: str | None = None
    whatsapp_access_token: str | None = Field(default=None, min_length=1)
    """Write-only: stored encrypted, never returned."""
    twilio_auth_token: str | None = Field(default=None, min_length=1)
    """Write-only: stored encrypted, never returned."""
    voice: VoiceIn | None = None
    """Live calls (Vapi, ElevenLabs): channels, hours, transfers, tools, assistant; a PATCH
    replaces it whole (a tool's signing secret left out is kept)."""


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
    message_types: dict[str, str]
    whatsapp_template: TemplateIn | None
    read_receipts: bool
    fetch_media: bool
    active: bool
    has_whatsapp_token: bool
    has_twilio_token: bool
    voice: VoiceOut
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
            message_types=dict(b.message_types),
            whatsapp_template=TemplateIn.of(b.whatsapp_template) if b.whatsapp_template else None,
            read_receipts=b.read_receipts,
            fetch_media=b.fetch_media,
            active=b.active,
            has_whatsapp_token=b.whatsapp_token is not None,
            has_twilio_token=b.twilio_token is not None,
            voice=VoiceOut.of(b.voice),
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
