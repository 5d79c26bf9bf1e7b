"""Message events (WhatsApp, SMS), keyed by conversation: ``{business channel}:{contact}``."""

from enum import StrEnum
from typing import Any, ClassVar, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from switchboard.common.events.base import EventData

Channel = Literal["whatsapp", "sms"]
MessageProvider = Literal["meta", "twilio"]


def conversation_key(business_channel_id: str, contact: str) -> str:
    """The Kafka key of a conversation: keeps one conversation's messages in order."""
    return f"{business_channel_id}:{contact}"


class MessageDeliveryStatus(StrEnum):
    """Delivery status, ranked by progress (``failed``/``undelivered`` are terminal)."""

    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    FAILED = "failed"
    UNDELIVERED = "undelivered"


class MessageMedia(BaseModel):
    """One attachment; its content stays at the provider."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str | None = None
    media_id: str | None = None
    content_type: str | None = None


class MessageReceived(EventData):
    """A customer wrote to a business (``switchboard.message.inbound.v1``)."""

    event_type: ClassVar[str] = "switchboard.message.inbound.v1"

    channel: Channel
    provider: MessageProvider
    message_id: str = Field(min_length=1, description="wamid… or Twilio MessageSid.")
    business_channel_id: str = Field(
        min_length=1,
        description="Routes to the business: WhatsApp phone_number_id, or the Twilio number.",
    )
    business_number: str | None = None
    account_id: str | None = Field(default=None, description="WABA id or Twilio AccountSid.")
    contact: str = Field(min_length=1, description="The customer: wa_id or E.164 number.")
    contact_name: str | None = None
    message_type: str = "text"
    text: str | None = None
    media: list[MessageMedia] = Field(default_factory=list)
    received_at: AwareDatetime
    raw: dict[str, Any] = Field(default_factory=dict)

    @property
    def conversation(self) -> str:
        return conversation_key(self.business_channel_id, self.contact)


class MessageStatusChanged(EventData):
    """The provider reported an outbound message's delivery (``switchboard.message.status.v1``)."""

    event_type: ClassVar[str] = "switchboard.message.status.v1"

    channel: Channel
    provider: MessageProvider
    message_id: str = Field(min_length=1)
    business_channel_id: str = Field(min_length=1)
    account_id: str | None = None
    contact: str = Field(min_length=1, description="The recipient.")
    status: MessageDeliveryStatus
    error_code: str | None = None
    error_message: str | None = None
    occurred_at: AwareDatetime
    raw: dict[str, Any] = Field(default_factory=dict)

    @property
    def conversation(self) -> str:
        return conversation_key(self.business_channel_id, self.contact)


class MessageSent(EventData):
    """The AI service sent a reply (``switchboard.message.outbound.v1``)."""

    event_type: ClassVar[str] = "switchboard.message.outbound.v1"

    channel: Channel
    provider: MessageProvider
    message_id: str = Field(min_length=1, description="The provider's id of the sent message.")
    in_reply_to: str | None = Field(default=None, description="The inbound message answered.")
    business_id: str
    business_channel_id: str = Field(min_length=1)
    contact: str = Field(min_length=1)
    text: str
    model: str | None = None
    prompt_tokens: int = Field(default=0, ge=0)
    completion_tokens: int = Field(default=0, ge=0)
    cost_usd: float = Field(default=0.0, ge=0)
    fallback: bool = Field(default=False, description="Sent the fallback text, not a model reply.")
    sent_at: AwareDatetime

    @property
    def conversation(self) -> str:
        return conversation_key(self.business_channel_id, self.contact)
