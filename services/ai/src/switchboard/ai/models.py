"""Records and pure rules of the AI service: businesses, reply states, cost, prompts. No I/O."""

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Final, Literal

from switchboard.ai.voice_models import VoiceProfile
from switchboard.common.crypto import Sealed
from switchboard.common.events import Channel

Role = Literal["system", "user", "assistant"]
TypeAction = Literal["answer", "fallback", "ignore"]
"""What a business does with a message type: the model answers it (described in words), the
fallback text answers it, or nothing does."""

DEFAULT_TYPE_ACTIONS: Final[Mapping[str, TypeAction]] = {
    "reaction": "ignore",
    "system": "ignore",
    "unsupported": "fallback",
}
"""Reactions and system notices (a number changed) are not questions; an unsupported message
cannot be described. Every other type is answered unless a business says otherwise."""

SERVICE_WINDOW: Final = timedelta(hours=24)
"""WhatsApp's customer-service window: free-form messages only this long after the customer's
last message; afterwards only an approved template (Meta error 131047 otherwise)."""
WINDOW_OPENERS_EXCLUDED: Final = frozenset({"system"})
"""Inbound types that are not the customer writing (Meta: a window starts when a user messages
or calls the business), so they do not open or renew it."""


@dataclass(frozen=True, slots=True)
class Template:
    """An approved WhatsApp template, sent outside the 24-hour window instead of free text."""

    name: str
    language: str
    parameters: tuple[str, ...] = ()
    """Body parameters ``{{1}}``, ``{{2}}`` ... in order; ``{contact_name}`` in a value is
    replaced by the customer's profile name."""

    def for_contact(self, contact_name: str | None) -> "Template":
        """This template with ``{contact_name}`` filled in (what is actually sent)."""
        values = tuple(v.replace("{contact_name}", contact_name or "") for v in self.parameters)
        return Template(self.name, self.language, values)

    def describe(self) -> str:
        """How the sent template reads in history and memory."""
        values = ", ".join(f'"{v}"' for v in self.parameters)
        return f"[template {self.name} ({self.language})" + (f": {values}]" if values else "]")


@dataclass(frozen=True, slots=True)
class Business:
    """One business answering its customers; tokens stay sealed here."""

    id: str
    tenant: str
    name: str
    whatsapp_phone_number_ids: tuple[str, ...] = ()
    twilio_numbers: tuple[str, ...] = ()
    twilio_account_sid: str | None = None
    system_prompt: str = "You are a helpful assistant."
    model: str = "gpt-4o-mini"
    temperature: float = 0.3
    max_tokens: int = 300
    """The answer's budget (``max_tokens``, or ``max_completion_tokens`` + headroom for models
    that reason first)."""
    reasoning_effort: str | None = None
    """For reasoning models only; None: the model's default."""
    memory_messages: int = 10
    rate_limit_per_minute: int = 0
    """0: unlimited."""
    monthly_spend_limit_usd: float = 0.0
    """0: unlimited."""
    fallback_text: str | None = None
    active: bool = True
    message_types: Mapping[str, TypeAction] = field(default_factory=dict, hash=False)
    """Overrides of :data:`DEFAULT_TYPE_ACTIONS` by message type."""
    whatsapp_template: Template | None = None
    """Sent when the 24-hour window is closed; None: nothing is sent then."""
    read_receipts: bool = False
    """Mark each WhatsApp message the business answers as read (blue ticks)."""
    fetch_media: bool = False
    """Download WhatsApp images and text documents with the business token so the model sees
    them; otherwise media are only described."""
    whatsapp_token: Sealed | None = None
    twilio_token: Sealed | None = None
    voice: VoiceProfile = field(default_factory=VoiceProfile, hash=False)
    """Live calls (Vapi, ElevenLabs): channels, hours, transfers, tools, assistant."""
    version: int = 1

    @property
    def channel_ids(self) -> tuple[str, ...]:
        return self.whatsapp_phone_number_ids + self.twilio_numbers

    def type_action(self, message_type: str) -> TypeAction:
        return self.message_types.get(
            message_type, DEFAULT_TYPE_ACTIONS.get(message_type, "answer")
        )


@dataclass(frozen=True, slots=True)
class ProviderTokens:
    """Decrypted tokens of one business (held only in the bounded token cache)."""

    whatsapp_access_token: str | None = None
    twilio_auth_token: str | None = None


@dataclass(frozen=True, slots=True)
class FetchedMedia:
    """A downloaded attachment."""

    content_type: str
    data: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class ChatMessage:
    role: Role
    content: str
    images: tuple[str, ...] = ()
    """Images for the model to see (``data:`` URLs), beside ``content``; user turns only."""


@dataclass(frozen=True, slots=True)
class Completion:
    """The model's answer and what it cost in tokens."""

    text: str
    model: str
    prompt_tokens: int = 0
    completion_tokens: int = 0


class ReplyState(StrEnum):
    """Life of one inbound message; transitions only move forward.

    claimed → model_done (reply stored) → sending → sent; or skipped at any point before sending.
    """

    CLAIMED = "claimed"
    MODEL_DONE = "model_done"
    SENDING = "sending"
    SENT = "sent"
    SKIPPED = "skipped"


@dataclass(frozen=True, slots=True)
class Reply:
    """What will be (or was) sent for one inbound message."""

    text: str
    model: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    fallback: bool = False
    template: Template | None = None
    """Sent as this template (``text`` describes it), not as free text."""


@dataclass(frozen=True, slots=True)
class ReplyRecord:
    """The ledger entry of one inbound message (unique by message id)."""

    message_id: str
    state: ReplyState
    reply: Reply | None = None
    business_id: str | None = None
    provider_message_id: str | None = None
    sent_at: datetime | None = None
    published: bool = False
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class StoredMessage:
    """One turn of a conversation as kept for memory."""

    id: str
    conversation: str
    business_id: str
    role: Role
    content: str
    at: datetime


@dataclass(frozen=True, slots=True)
class KnowledgeChunk:
    """A piece of a knowledge document with its embedding."""

    doc_id: str
    title: str
    position: int
    text: str
    hash: str
    vector: tuple[float, ...] = field(default=(), repr=False)


@dataclass(frozen=True, slots=True)
class RetrievedChunk:
    chunk: KnowledgeChunk
    score: float


def cost_usd(
    prompt_tokens: int, completion_tokens: int, input_per_1k: float, output_per_1k: float
) -> float:
    """What a completion costs at the given prices."""
    return round(prompt_tokens / 1000 * input_per_1k + completion_tokens / 1000 * output_per_1k, 8)


def window_open(last_inbound: datetime, now: datetime, margin: timedelta) -> bool:
    """Whether free text may still be sent: the window runs 24 h from the customer's last
    message, less ``margin`` (the send takes time and Meta's clock decides)."""
    return now < last_inbound + SERVICE_WINDOW - margin


def channel_of(business: Business, channel_id: str) -> Channel:
    """``whatsapp`` for a phone-number id, ``sms`` for a Twilio number."""
    return "whatsapp" if channel_id in business.whatsapp_phone_number_ids else "sms"


def content_hash(text: str, model: str) -> str:
    """Chunks with the same text and embedding model share one vector."""
    return hashlib.sha256(f"{model}\x1f{text}".encode()).hexdigest()


def split_chunks(text: str, size: int, overlap: int) -> list[str]:
    """Paragraph-aware chunks of at most ``size`` characters, overlapping by ``overlap``.

    Paragraphs are packed together while they fit, so an edit to one paragraph changes only
    the chunks around it and the rest keep their hashes (and their embeddings).
    """
    paragraphs = [p.strip() for p in text.replace("\r\n", "\n").split("\n\n") if p.strip()]
    pieces: list[str] = []
    for p in paragraphs:
        if len(p) <= size:
            pieces.append(p)
            continue
        step = max(size - overlap, 1)
        pieces.extend(p[i : i + size] for i in range(0, len(p), step) if p[i : i + size].strip())
    chunks: list[str] = []
    current = ""
    for piece in pieces:
        if current and len(current) + 2 + len(piece) > size:
            chunks.append(current)
            current = piece
        else:
            current = f"{current}\n\n{piece}" if current else piece
    if current:
        chunks.append(current)
    return chunks


KNOWLEDGE_HEADER = (
    "Use the knowledge below when it answers the question, and cite the document in square "
    "brackets, e.g. [Opening hours]. Say you do not know rather than invent facts."
)


def build_prompt(
    system_prompt: str,
    knowledge: list[RetrievedChunk],
    history: list[StoredMessage],
    text: str,
    images: tuple[str, ...] = (),
) -> list[ChatMessage]:
    """System prompt (+ cited knowledge), the remembered turns oldest first, then the question."""
    system = system_prompt
    if knowledge:
        cited = "\n\n".join(f"[{r.chunk.title}]\n{r.chunk.text}" for r in knowledge)
        system = f"{system_prompt}\n\n{KNOWLEDGE_HEADER}\n\n{cited}"
    messages = [ChatMessage("system", system)]
    messages.extend(ChatMessage(m.role, m.content) for m in history)
    messages.append(ChatMessage("user", text, images))
    return messages
