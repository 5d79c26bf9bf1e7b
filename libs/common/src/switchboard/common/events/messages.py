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


class _Part(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class MessageLocation(_Part):
    """A shared place (WhatsApp ``location``)."""

    latitude: float | None = None
    longitude: float | None = None
    name: str | None = None
    address: str | None = None
    url: str | None = None


class MessageChoice(_Part):
    """What the customer tapped: an interactive reply button or list row, or a template's
    quick-reply button (WhatsApp ``interactive.button_reply|list_reply``, ``button``)."""

    kind: str = Field(description="button_reply, list_reply, nfm_reply or button.")
    id: str | None = Field(default=None, description="The id the business gave the option.")
    title: str | None = None
    description: str | None = None


class MessageReaction(_Part):
    """An emoji reaction to an earlier message; no emoji means the reaction was removed."""

    emoji: str | None = None
    message_id: str | None = Field(default=None, description="The message reacted to.")


class SharedContact(_Part):
    """One contact card the customer shared (WhatsApp ``contacts``)."""

    name: str | None = None
    phones: list[str] = Field(default_factory=list)
    emails: list[str] = Field(default_factory=list)
    organization: str | None = None


class OrderItem(_Part):
    product_retailer_id: str | None = None
    quantity: float | None = None
    item_price: float | None = None
    currency: str | None = None


class MessageOrder(_Part):
    """A cart sent from the business's catalog (WhatsApp ``order``)."""

    catalog_id: str | None = None
    text: str | None = None
    items: list[OrderItem] = Field(default_factory=list)


class MessageError(_Part):
    """A problem the provider reports about an inbound message (e.g. 131051 unsupported type)."""

    code: str | None = None
    title: str | None = None
    details: str | None = None


class MessageContent(_Part):
    """What a non-text message carries, by type, so a consumer can describe it without the
    provider's payload. Only the parts of the message's own type are set."""

    caption: str | None = Field(default=None, description="Image, video or document caption.")
    filename: str | None = Field(default=None, description="Document file name.")
    voice: bool | None = Field(default=None, description="Audio recorded as a voice message.")
    animated: bool | None = Field(default=None, description="Animated sticker.")
    location: MessageLocation | None = None
    choice: MessageChoice | None = None
    reaction: MessageReaction | None = None
    contacts: list[SharedContact] = Field(default_factory=list)
    order: MessageOrder | None = None
    system: str | None = Field(default=None, description="The text of a system notice.")
    replied_to: str | None = Field(
        default=None, description="The message this one quotes or answers (WhatsApp context.id)."
    )
    errors: list[MessageError] = Field(default_factory=list)


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
    content: MessageContent | None = Field(
        default=None, description="What a non-text message carries (location, choice, ...)."
    )
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


class MessageStatusOther(EventData):
    """A status outside :class:`MessageDeliveryStatus` (``switchboard.message.status.other.v1``).

    Providers add status values (Meta: ``deleted``, ``warning``, ``played`` ...). They are
    published as the provider sent them, under a type of their own, so consumers of
    ``switchboard.message.status.v1`` keep their ranked statuses.
    """

    event_type: ClassVar[str] = "switchboard.message.status.other.v1"

    channel: Channel
    provider: MessageProvider
    message_id: str = Field(min_length=1)
    business_channel_id: str = Field(min_length=1)
    account_id: str | None = None
    contact: str = Field(min_length=1, description="The recipient.")
    status: str = Field(min_length=1, description="As the provider sent it.")
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
    template: str | None = Field(
        default=None,
        description="Name of the approved template sent instead of free-form text (WhatsApp, "
        "outside the 24-hour customer-service window).",
    )
    sent_at: AwareDatetime

    @property
    def conversation(self) -> str:
        return conversation_key(self.business_channel_id, self.contact)
