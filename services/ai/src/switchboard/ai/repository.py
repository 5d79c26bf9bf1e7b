"""What the handlers need from the outside world, as Protocols (one real adapter, one fake each)."""

from collections.abc import Sequence
from datetime import date, datetime
from typing import Protocol

from switchboard.ai.models import (
    Business,
    ChatMessage,
    Completion,
    FetchedMedia,
    KnowledgeChunk,
    ProviderTokens,
    Reply,
    ReplyRecord,
    StoredMessage,
    Template,
)
from switchboard.common.events import Event


class BusinessLookup(Protocol):
    """Finds the business of a tenant a channel id routes to (the worker's read side)."""

    async def by_channel(self, tenant: str, channel_id: str) -> Business | None: ...


class BindingsMarker(Protocol):
    """A value that changes whenever channels are bound to a business (the admin API moves it;
    the worker polls it to forget cached "no business on this channel" answers)."""

    async def bindings_token(self) -> str | None: ...


class ReplyLedger(Protocol):
    """One record per inbound message id; every transition is one atomic conditional update."""

    async def claim(self, message_id: str, conversation: str, now: datetime) -> ReplyRecord | None:
        """Insert ``claimed`` if absent; the existing record (or None when this call inserted)."""
        ...

    async def skip(self, message_id: str, reason: str, business_id: str | None) -> None: ...

    async def store_reply(self, message_id: str, business_id: str, reply: Reply) -> ReplyRecord:
        """claimed → model_done with ``reply``; if another attempt got there first, its record."""
        ...

    async def begin_send(self, message_id: str) -> bool:
        """model_done → sending; False when another attempt is sending or sent."""
        ...

    async def abort_send(self, message_id: str) -> None:
        """sending → model_done: the provider certainly did not take the reply."""
        ...

    async def mark_sent(self, message_id: str, provider_message_id: str, at: datetime) -> bool:
        """sending → sent; True for the one call that made the transition."""
        ...

    async def mark_published(self, message_id: str) -> None: ...


class ConversationStore(Protocol):
    """Conversation memory: turns keyed by their own id, so re-appending is a no-op."""

    async def recent(self, conversation: str, limit: int) -> list[StoredMessage]:
        """The last ``limit`` turns, oldest first."""
        ...

    async def append(self, messages: Sequence[StoredMessage]) -> None: ...


class UsageStore(Protocol):
    """Per business and day: tokens, replies, cost."""

    async def add(self, business: Business, day: date, reply: Reply, *, counted_key: str) -> None:
        """Add once per ``counted_key`` (a redelivery does not count twice)."""
        ...

    async def month_cost(self, business_id: str, month: str) -> float:
        """Spend of ``month`` (``YYYY-MM``) so far."""
        ...

    async def tenant_day_cost(self, tenant: str, day: str) -> float:
        """Spend of all the tenant's businesses on ``day`` (``YYYY-MM-DD``, UTC) so far."""
        ...


class KnowledgeIndex(Protocol):
    """Embedded chunks of a business."""

    async def chunks(self, business_id: str) -> list[KnowledgeChunk]: ...

    async def version(self, business_id: str) -> str:
        """Changes whenever the business's chunks change (cache key); empty until the first
        document of the business is ready (no chunks to read before that)."""
        ...


class RateLimiter(Protocol):
    async def allow(self, business_id: str, per_minute: int, now: float) -> bool: ...


class ModelClient(Protocol):
    """Chat completions; raises ModelUnavailable when the model failed after bounded retries,
    ModelRejected when it refused the request as invalid. Each model family is sent the
    parameters it accepts (``max_tokens`` is the answer's budget)."""

    async def complete(
        self,
        model: str,
        messages: Sequence[ChatMessage],
        temperature: float,
        max_tokens: int,
        reasoning_effort: str | None = None,
    ) -> Completion: ...


class Embedder(Protocol):
    """Embeddings for texts, one vector per text, in order."""

    async def embed(self, texts: Sequence[str]) -> list[list[float]]: ...


class Sender(Protocol):
    """Sends one message; returns the provider's message id.

    Raises SendFailed when the provider certainly did not take it (retry is safe), SendSkipped
    when it never will for this recipient (ReengagementRequired: WhatsApp's 24-hour window is
    closed), SendRejected when it never will (SendNotAuthorized: the business's token or
    permissions); any other failure leaves it unknown whether it was sent.
    """

    async def send(
        self,
        business: Business,
        tokens: ProviderTokens,
        channel_id: str,
        to: str,
        text: str,
        *,
        template: Template | None = None,
    ) -> str:
        """``text``, or the approved ``template`` (WhatsApp) when one is given."""
        ...

    async def mark_read(
        self, business: Business, tokens: ProviderTokens, channel_id: str, message_id: str
    ) -> None:
        """A read receipt for an inbound message (WhatsApp; nothing for SMS)."""
        ...


class ServiceWindows(Protocol):
    """When each conversation's customer last wrote (WhatsApp's 24-hour window)."""

    async def last_inbound(self, conversation: str) -> datetime | None: ...

    async def record(self, conversation: str, at: datetime) -> None:
        """``at`` if it is later than what is known (never moves back)."""
        ...


class MediaFetcher(Protocol):
    """Downloads an inbound attachment by the provider's media id; MediaUnavailable if not."""

    async def fetch(
        self, business: Business, tokens: ProviderTokens, media_id: str
    ) -> FetchedMedia: ...


class OutboundPublisher(Protocol):
    """Publishes ``message.outbound`` durably (acks=all) or raises PublishError."""

    async def publish(self, event: Event, key: str) -> None: ...
