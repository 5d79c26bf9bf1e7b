"""WhatsApp's rules for answering a message, used by ``handlers.py``.

- **The 24-hour customer-service window** (Meta: it starts when the customer writes or calls,
  and each new message resets it; outside it only an approved template may be sent, free text
  fails with 131047). A message opens the window itself, so only a message handled ~24 h late
  (a backlog, a dead-letter replay) asks the store whether the customer wrote since.
- **The template** a business configured, sent instead of free text when the window is closed.
- **Read receipts**, best effort: a failure is counted and logged, never fails the message.
- **Media for the model**, for businesses that enable it: images as ``data:`` URLs beside the
  description, text documents inline; anything else (or a failed fetch) is only described.
"""

import asyncio
import base64
from datetime import datetime, timedelta
from typing import Final

import structlog

from switchboard.ai.errors import MediaUnavailable
from switchboard.ai.metrics import MEDIA_FETCHES, READ_RECEIPTS
from switchboard.ai.models import (
    WINDOW_OPENERS_EXCLUDED,
    Business,
    ProviderTokens,
    Reply,
    window_open,
)
from switchboard.ai.repository import MediaFetcher, Sender, ServiceWindows
from switchboard.common.errors import SwitchboardError
from switchboard.common.events import MessageReceived

log = structlog.get_logger(__name__)

IMAGE_TYPES: Final = frozenset({"image/jpeg", "image/png", "image/webp", "image/gif"})
"""What chat models take as ``image_url`` data."""


def is_whatsapp(msg: MessageReceived) -> bool:
    return msg.channel == "whatsapp"


async def record_inbound(msg: MessageReceived, windows: ServiceWindows | None) -> None:
    """The customer wrote: the conversation's window opens (or renews) at ``received_at``."""
    if windows is None or not is_whatsapp(msg) or msg.message_type in WINDOW_OPENERS_EXCLUDED:
        return
    await windows.record(msg.conversation, msg.received_at)


async def free_text_allowed(
    msg: MessageReceived, windows: ServiceWindows | None, now: datetime, margin: timedelta
) -> bool:
    """Whether free text may go to this conversation now (always, outside WhatsApp)."""
    if not is_whatsapp(msg) or window_open(msg.received_at, now, margin):
        return True
    if windows is None:
        return False
    last = await windows.last_inbound(msg.conversation)
    return last is not None and window_open(max(last, msg.received_at), now, margin)


def template_reply(business: Business, msg: MessageReceived) -> Reply | None:
    """The business's approved template for this customer, or None when it has none."""
    if business.whatsapp_template is None:
        return None
    template = business.whatsapp_template.for_contact(msg.contact_name)
    return Reply(text=template.describe(), template=template)


async def mark_read(
    msg: MessageReceived, business: Business, tokens: ProviderTokens, sender: Sender
) -> None:
    """Blue ticks on the customer's message; a failure does not fail the reply."""
    try:
        await sender.mark_read(business, tokens, msg.business_channel_id, msg.message_id)
    except SwitchboardError as exc:
        READ_RECEIPTS.labels("failed").inc()
        log.warning("read receipt failed", business_id=business.id, error=str(exc))
        return
    READ_RECEIPTS.labels("sent").inc()


async def media_for_model(
    msg: MessageReceived,
    business: Business,
    tokens: ProviderTokens,
    fetcher: MediaFetcher | None,
    text_chars: int,
) -> tuple[str, tuple[str, ...]]:
    """Words to add to the description and images to show, from the message's media."""
    if fetcher is None or not business.fetch_media or not is_whatsapp(msg):
        return "", ()
    wanted = [m for m in msg.media if m.media_id and _useful(msg.message_type, m.content_type)]
    if not wanted:
        return "", ()
    results = await asyncio.gather(
        *(fetcher.fetch(business, tokens, m.media_id or "") for m in wanted),
        return_exceptions=True,
    )
    extra: list[str] = []
    images: list[str] = []
    for result in results:
        if isinstance(result, MediaUnavailable):
            MEDIA_FETCHES.labels("failed").inc()
            log.info(
                "media not fetched; described only", business_id=business.id, error=str(result)
            )
            continue
        if isinstance(result, BaseException):
            raise result
        MEDIA_FETCHES.labels("fetched").inc()
        if result.content_type in IMAGE_TYPES:
            encoded = base64.b64encode(result.data).decode()
            images.append(f"data:{result.content_type};base64,{encoded}")
        elif result.content_type.startswith("text/") and text_chars > 0:
            text = result.data.decode("utf-8", errors="replace")[:text_chars]
            extra.append(f"Content of the document:\n{text}")
    return "\n\n".join(extra), tuple(images)


def _useful(message_type: str, content_type: str | None) -> bool:
    """Only what a chat model can take: images, and documents that are text."""
    kind = (content_type or "").split(";")[0].strip()
    if message_type == "image":
        return kind in IMAGE_TYPES
    return message_type == "document" and kind.startswith("text/")


async def deliver(
    msg: MessageReceived, business: Business, tokens: ProviderTokens, reply: Reply, sender: Sender
) -> str:
    """Send ``reply`` (its template when it has one) to the message's sender."""
    return await sender.send(
        business, tokens, msg.business_channel_id, msg.contact, reply.text, template=reply.template
    )
