"""Handling one ``message.inbound`` event: owner → business → type → claim → window → limits →
model → send → publish.

The tenant comes from the channel: the control plane's binding (``control.config``) names the
tenant that owns the channel the message arrived on, and only a business of that tenant
answers it. A message on a channel nobody owns, or whose event names another tenant than the
binding, is answered, stored and billed under no one.

Nothing is written for a message that will not be answered because of where it went (no
business on the channel, an inactive business, a type the business ignores): with nothing sent
there is nothing to deduplicate, and such traffic (a number nobody configured) can be heavy.

Never twice: the message id is claimed in the ledger before anything with an effect (only
reads run beside the claim; the rate limit counts claimed messages), the reply is stored
before it is sent (a redelivery reuses it instead of asking the model again), and the send is
guarded by an atomic model_done → sending transition, so two attempts cannot both send.

Latency: the claim and the reads the model call needs (spend, conversation memory, the
knowledge index) run concurrently; so do ``sent`` and the after-send steps (memory, usage, the
outbound event), which are each safe to repeat; only ``published`` waits for all of them.

Non-text messages reach the model described in words (``describe.py``), or get the fallback,
or nothing, as the business set per type (``Business.type_action``). WhatsApp's window,
template, read receipts and media are in ``whatsapp.py``.
"""

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Final

import structlog

from switchboard.ai import owners, plans, whatsapp
from switchboard.ai.breaker import BreakerOpen, CircuitBreaker
from switchboard.ai.cache import BusinessCache
from switchboard.ai.describe import describe
from switchboard.ai.errors import (
    ConfigNotReady,
    ModelRejected,
    ModelUnavailable,
    ReengagementRequired,
    SendFailed,
    SendNotAuthorized,
    SendRejected,
    SendSkipped,
)
from switchboard.ai.metrics import (
    COST,
    HANDLE_SECONDS,
    LIMITED,
    MESSAGES,
    MODEL_FAILURES,
    MODEL_SECONDS,
    SEND_NOT_AUTHORIZED,
    SEND_SKIPPED,
    SPEND_RATIO,
    TOKENS,
    WINDOW_CLOSED,
)
from switchboard.ai.models import (
    Business,
    Reply,
    ReplyRecord,
    ReplyState,
    RetrievedChunk,
    StoredMessage,
    build_prompt,
    channel_of,
    cost_usd,
)
from switchboard.ai.owners import FollowedConfig
from switchboard.ai.repository import (
    ConversationStore,
    MediaFetcher,
    ModelClient,
    OutboundPublisher,
    RateLimiter,
    ReplyLedger,
    Sender,
    ServiceWindows,
    UsageStore,
)
from switchboard.ai.retrieval import KnowledgeMatrix, Retriever
from switchboard.ai.settings import Price
from switchboard.common.events import Event, MessageReceived, MessageSent, event_id

log = structlog.get_logger(__name__)


@dataclass(slots=True)
class ReplyPipeline:
    """The dependencies of :func:`handle_inbound` (wired in ``app.py``, faked in tests)."""

    config: FollowedConfig
    """The control plane's configuration: who owns each channel."""
    businesses: BusinessCache
    ledger: ReplyLedger
    conversations: ConversationStore
    usage: UsageStore
    limiter: RateLimiter
    model: ModelClient
    breaker: CircuitBreaker
    sender: Sender
    publisher: OutboundPublisher
    retriever: Retriever | None
    default_model: str = "gpt-4o-mini"
    """The platform's default model: the only one a plan without ``allowed_models`` allows."""
    windows: ServiceWindows | None = None
    """WhatsApp's 24-hour windows; None: only the message's own time opens one."""
    media: MediaFetcher | None = None
    window_margin: timedelta = timedelta(seconds=60)
    media_text_chars: int = 4000
    source: str = "/switchboard/ai"
    now: Callable[[], datetime] = lambda: datetime.now(UTC)
    monotonic: Callable[[], float] = time.monotonic


async def handle_inbound(event: Event, p: ReplyPipeline) -> str:
    """Answer one inbound message at most once; returns the outcome (also counted in metrics)."""
    if not isinstance(event.data, MessageReceived):
        return "ignored"
    if not p.config.ready:
        raise ConfigNotReady("control.config is still being read")
    started = p.monotonic()
    outcome = await _handle(event.data, event.tenant, p)
    MESSAGES.labels(outcome).inc()
    HANDLE_SECONDS.observe(p.monotonic() - started)
    return outcome


@dataclass(frozen=True, slots=True)
class _Prepared:
    """What the model call needs, read before the claim's outcome is known."""

    spend_limited: str | None
    """Which spend limit the business is over (``spend``: its own; ``plan_spend``: its
    tenant's plan), or None."""
    history: list[StoredMessage]
    index: KnowledgeMatrix | None
    free_text: bool = True
    """Whether free text may be sent (WhatsApp's window is open)."""


@dataclass(frozen=True, slots=True)
class _Skip:
    """Nothing will be sent for this message, and why (the ledger's reason, the outcome)."""

    reason: str
    outcome: str


async def _handle(msg: MessageReceived, tenant: str | None, p: ReplyPipeline) -> str:
    # The owner and the business first (in memory and a cache hit, nearly always): a message
    # nobody will answer writes nothing. Deduplication is only needed for what has an effect,
    # and an unowned channel, an unknown or inactive business, or a type the business ignores,
    # has none (a redelivery is skipped again).
    owner = owners.owner(p.config, owners.inbound_channel(msg))
    if owner.tenant is None:
        return f"skipped_{'unowned_channel' if owner.reason == 'unbound' else owner.reason}"
    if tenant is not None and tenant != owner.tenant:
        # The event was attributed to another tenant than the one the channel is bound to
        # now (moved in between): answering for either could speak for the wrong one.
        log.warning(
            "message for another tenant than the channel's owner",
            channel=owners.inbound_channel(msg),
            event_tenant=tenant,
            owner=owner.tenant,
        )
        return "skipped_other_tenant"
    business = await p.businesses.by_channel(owner.tenant, msg.business_channel_id)
    if business is None:
        return "skipped_unknown_business"
    if not business.active:
        return "skipped_inactive_business"
    if business.type_action(msg.message_type) == "ignore":
        await whatsapp.record_inbound(msg, p.windows)  # the customer still wrote (window)
        return "skipped_ignored_type"
    return await _answer(msg, business, p)


async def _answer(msg: MessageReceived, business: Business, p: ReplyPipeline) -> str:
    """Claim, then reply at most once (or finish what an earlier attempt left)."""
    # The claim and the reads the model call needs do not depend on each other: both at once.
    # A duplicate wastes the reads (none of them changes anything that matters: a rebuilt
    # memory list or spend counter holds what MongoDB holds).
    existing, prepared = await asyncio.gather(
        p.ledger.claim(msg.message_id, msg.conversation, p.now()), _prepare(msg, business, p)
    )
    if existing is not None and existing.state is ReplyState.SKIPPED:
        return "duplicate"
    if existing is not None and existing.state is ReplyState.SENDING:
        # An earlier attempt stopped while the provider had the reply: it may have been
        # delivered. Sending again could answer twice, so this one is left as it is.
        log.warning("reply send outcome unknown; not resending", message_id=msg.message_id)
        return "duplicate_unknown"
    if existing is not None and existing.state is ReplyState.SENT:
        if not existing.published and existing.reply is not None:
            await _after_send(msg, business, existing, p)  # finish what a crash interrupted
        return "duplicate"
    record = existing
    if record is None or record.state is ReplyState.CLAIMED or record.reply is None:
        if business.read_receipts and whatsapp.is_whatsapp(msg):
            reply, _ = await asyncio.gather(
                _reply(msg, business, prepared, p),
                whatsapp.mark_read(msg, business, p.businesses.tokens(business), p.sender),
            )
        else:
            reply = await _reply(msg, business, prepared, p)
        if isinstance(reply, _Skip):
            await p.ledger.skip(msg.message_id, reply.reason, business.id)
            return reply.outcome
        record = await p.ledger.store_reply(msg.message_id, business.id, reply)
    return await _send(msg, business, record, p)


async def _prepare(msg: MessageReceived, business: Business, p: ReplyPipeline) -> _Prepared:
    """The business's spend check, memory and knowledge index; the window."""
    spend_limited, history, index, free_text, _ = await asyncio.gather(
        _over_spend(business, p),
        p.conversations.recent(msg.conversation, business.memory_messages),
        p.retriever.load(business.id) if p.retriever is not None else _no_index(),
        whatsapp.free_text_allowed(msg, p.windows, p.now(), p.window_margin),
        whatsapp.record_inbound(msg, p.windows),
    )
    return _Prepared(spend_limited, history, index, free_text)


_SILENT: Final = _Skip("limited_silent", "limited_silent")


def _fallback(business: Business) -> Reply | _Skip:
    return Reply(text=business.fallback_text, fallback=True) if business.fallback_text else _SILENT


async def _reply(
    msg: MessageReceived, business: Business, prepared: _Prepared, p: ReplyPipeline
) -> Reply | _Skip:
    """The model's answer; the fallback when over a limit, the model is down or the business
    answers this type so; the template outside WhatsApp's window; or why nothing is sent."""
    # The rate limit counts only messages that get this far (not duplicates).
    limit = prepared.spend_limited or await _over_rate(business, p)
    if not prepared.free_text:  # free text would be refused (Meta 131047): template or nothing
        template = whatsapp.template_reply(business, msg) if limit is None else None
        WINDOW_CLOSED.labels("skipped" if template is None else "template").inc()
        return template or _Skip("window_closed", "skipped_window_closed")
    if limit is not None:
        action = "fallback" if business.fallback_text else "silent"
        LIMITED.labels(limit, action).inc()
        log.info("business over limit", business_id=business.id, limit=limit, action=action)
        return _fallback(business)
    if business.type_action(msg.message_type) == "fallback":
        return _fallback(business)
    problem = plans.model_problem(p.config, business.tenant, business.model, p.default_model)
    if problem is not None:  # the operator withdrew the model, or the plan no longer has it
        MODEL_FAILURES.labels("not_allowed").inc()
        log.warning("model not allowed; fallback", business_id=business.id, error=problem)
        return _fallback(business)
    question = describe(msg)
    extra, images = await whatsapp.media_for_model(
        msg, business, p.businesses.tokens(business), p.media, p.media_text_chars
    )
    knowledge = await _knowledge(prepared.index, question, p)
    prompt = build_prompt(
        business.system_prompt,
        knowledge,
        prepared.history,
        f"{question}\n\n{extra}" if extra else question,
        images,
    )
    started = p.monotonic()
    try:
        completion = await p.breaker.call(
            lambda: p.model.complete(
                business.model,
                prompt,
                business.temperature,
                business.max_tokens,
                business.reasoning_effort,
            )
        )
    except ModelUnavailable as exc:
        MODEL_FAILURES.labels("breaker_open" if isinstance(exc, BreakerOpen) else "error").inc()
        log.warning("model unavailable; fallback", business_id=business.id, error=str(exc))
        return _fallback(business)
    except ModelRejected as exc:  # this business's model or settings; others are unaffected
        MODEL_FAILURES.labels("rejected").inc()
        log.warning("model refused the request; fallback", business_id=business.id, error=str(exc))
        return _fallback(business)
    MODEL_SECONDS.observe(p.monotonic() - started)
    TOKENS.labels("in").inc(completion.prompt_tokens)
    TOKENS.labels("out").inc(completion.completion_tokens)
    # The allowed model's price (checked above): the server may answer with a dated alias.
    price = plans.price_of(p.config, business.model) or Price()
    cost = cost_usd(
        completion.prompt_tokens,
        completion.completion_tokens,
        price.input_per_1k,
        price.output_per_1k,
    )
    COST.inc(cost)
    return Reply(
        text=completion.text,
        model=completion.model,
        prompt_tokens=completion.prompt_tokens,
        completion_tokens=completion.completion_tokens,
        cost_usd=cost,
    )


async def _no_index() -> None:
    return None


async def _knowledge(
    index: KnowledgeMatrix | None, text: str, p: ReplyPipeline
) -> list[RetrievedChunk]:
    """Retrieved chunks; an embedding failure answers without knowledge rather than not at all."""
    if p.retriever is None or index is None:
        return []
    try:
        return await p.retriever.search(index, text)
    except ModelUnavailable as exc:
        log.warning("retrieval failed; answering without knowledge", error=str(exc))
        return []


async def _over_spend(business: Business, p: ReplyPipeline) -> str | None:
    """The business's own monthly limit (0: none of its own), then its tenant's plan: the
    platform's daily cap over all the tenant's businesses, which no business setting raises."""
    now = p.now()
    if business.monthly_spend_limit_usd > 0:
        spent = await p.usage.month_cost(business.id, now.strftime("%Y-%m"))
        SPEND_RATIO.labels(business.id).set(spent / business.monthly_spend_limit_usd)
        if spent >= business.monthly_spend_limit_usd:
            return "spend"
    cap = plans.daily_cap_usd(p.config, business.tenant)
    if await p.usage.tenant_day_cost(business.tenant, now.date().isoformat()) >= cap:
        return "plan_spend"
    return None


async def _over_rate(business: Business, p: ReplyPipeline) -> str | None:
    if business.rate_limit_per_minute > 0 and not await p.limiter.allow(
        business.id, business.rate_limit_per_minute, p.now().timestamp()
    ):
        return "rate"
    return None


async def _send(
    msg: MessageReceived, business: Business, record: ReplyRecord, p: ReplyPipeline
) -> str:
    assert record.reply is not None
    if record.state is ReplyState.SENT or not await p.ledger.begin_send(msg.message_id):
        return "duplicate"
    tokens = p.businesses.tokens(business)
    reply = record.reply
    try:
        try:
            provider_id = await whatsapp.deliver(msg, business, tokens, reply, p.sender)
        except ReengagementRequired:
            # Meta's clock says the window closed although ours did not: the template instead
            # (free text certainly was not sent), or nothing.
            template = whatsapp.template_reply(business, msg) if reply.template is None else None
            if template is None:
                raise
            WINDOW_CLOSED.labels("template").inc()
            reply = replace(reply, text=template.text, template=template.template)
            provider_id = await whatsapp.deliver(msg, business, tokens, reply, p.sender)
    except SendSkipped as exc:
        await p.ledger.abort_send(msg.message_id)  # nothing went out, and nothing ever will
        await p.ledger.skip(msg.message_id, exc.reason, business.id)
        SEND_SKIPPED.labels(exc.reason).inc()
        if isinstance(exc, ReengagementRequired):
            WINDOW_CLOSED.labels("skipped").inc()
        log.warning("reply skipped by the provider", business_id=business.id, error=str(exc))
        return f"skipped_{exc.reason}"
    except (SendFailed, SendRejected) as exc:
        await p.ledger.abort_send(msg.message_id)  # certainly not sent: a retry may send it
        if isinstance(exc, SendNotAuthorized):
            SEND_NOT_AUTHORIZED.labels(exc.code).inc()
            log.error(
                "provider refused the business's credentials",
                business_id=business.id,
                code=exc.code,
                error=str(exc),
            )
        raise
    sent_at = p.now()
    sent = ReplyRecord(
        message_id=msg.message_id,
        state=ReplyState.SENT,
        reply=reply,
        business_id=business.id,
        provider_message_id=provider_id,
        sent_at=sent_at,
    )
    # The reply is out. Recording that does not have to come before the rest: memory, usage
    # and the event are each keyed, so a redelivery after a crash here repeats them harmlessly
    # (or, with ``sent`` not stored, finds the send step and leaves the message alone).
    marked, _ = await asyncio.gather(
        p.ledger.mark_sent(msg.message_id, provider_id, sent_at),
        _record_and_publish(msg, business, sent, p),
    )
    if not marked:
        return "duplicate"
    await p.ledger.mark_published(msg.message_id)
    if reply.template is not None:
        return "template"
    return "fallback" if reply.fallback else "replied"


async def _after_send(
    msg: MessageReceived, business: Business, record: ReplyRecord, p: ReplyPipeline
) -> None:
    """Finish a sent reply whose memory, usage or event a crash may have interrupted."""
    await _record_and_publish(msg, business, record, p)
    await p.ledger.mark_published(msg.message_id)


async def _record_and_publish(
    msg: MessageReceived, business: Business, record: ReplyRecord, p: ReplyPipeline
) -> None:
    """Memory, usage and the outbound event; each step is safe to repeat."""
    reply = record.reply
    assert reply is not None
    sent_at = record.sent_at or p.now()
    provider_id = record.provider_message_id or f"unknown:{msg.message_id}"
    turns = [
        StoredMessage(
            msg.message_id,
            msg.conversation,
            business.id,
            "user",
            describe(msg),
            msg.received_at,
        ),
        StoredMessage(
            f"reply:{msg.message_id}",
            msg.conversation,
            business.id,
            "assistant",
            reply.text,
            sent_at,
        ),
    ]
    data = MessageSent(
        channel=channel_of(business, msg.business_channel_id),
        provider=msg.provider,
        message_id=provider_id,
        in_reply_to=msg.message_id,
        business_id=business.id,
        business_channel_id=msg.business_channel_id,
        contact=msg.contact,
        text=reply.text,
        model=reply.model,
        prompt_tokens=reply.prompt_tokens,
        completion_tokens=reply.completion_tokens,
        cost_usd=reply.cost_usd,
        fallback=reply.fallback,
        template=reply.template.name if reply.template else None,
        sent_at=sent_at,
    )
    event = Event(
        id=event_id("ai-reply", msg.message_id),
        source=p.source,
        data=data,
        subject=msg.conversation,
        tenant=business.tenant,
        time=sent_at,
    )
    # Independent and each repeatable: a failure of one retries the message, and the redelivery
    # redoes all three (the turns and the usage row are keyed, the event id is deterministic).
    await asyncio.gather(
        p.conversations.append(turns),
        p.usage.add(business, sent_at.date(), reply, counted_key=msg.message_id),
        p.publisher.publish(event, data.conversation),
    )
