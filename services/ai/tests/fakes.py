"""In-memory implementations of the AI service's Protocols, for tests and the benchmark.

Nothing here runs in production paths.
"""

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from switchboard.ai.errors import MediaUnavailable, ModelRejected, ModelUnavailable, ToolFailed
from switchboard.ai.models import (
    Business,
    ChatMessage,
    Completion,
    FetchedMedia,
    KnowledgeChunk,
    ProviderTokens,
    Reply,
    ReplyRecord,
    ReplyState,
    StoredMessage,
    Template,
)
from switchboard.common.config import Channel, ModelPrice, PlanLimits, Tenant
from switchboard.common.config import InMemoryConfig as CommonInMemoryConfig
from switchboard.common.events import Event


class FakeClock:
    def __init__(self, t: float = 1000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


class FakeModel:
    """Answers ``reply to: <last user text>``; ``fail`` makes it look down, ``reject`` makes it
    refuse the request."""

    def __init__(self) -> None:
        self.prompts: list[list[ChatMessage]] = []
        self.calls: list[dict[str, Any]] = []
        self.fail = False
        self.reject = False

    async def complete(
        self,
        model: str,
        messages: Sequence[ChatMessage],
        temperature: float,
        max_tokens: int,
        reasoning_effort: str | None = None,
    ) -> Completion:
        self.prompts.append(list(messages))
        self.calls.append(
            {
                "model": model,
                "temperature": temperature,
                "max_tokens": max_tokens,
                "reasoning_effort": reasoning_effort,
            }
        )
        if self.fail:
            raise ModelUnavailable("model down (fake)")
        if self.reject:
            raise ModelRejected("unsupported parameter (fake)")
        return Completion(
            text=f"reply to: {messages[-1].content}",
            model=model,
            prompt_tokens=sum(len(m.content.split()) for m in messages),
            completion_tokens=5,
        )


WORD = re.compile(r"[a-z0-9]+")
DIM = 256


def bag_of_words(text: str) -> list[float]:
    """Deterministic: texts sharing words are closer."""
    v = [0.0] * DIM
    for w in WORD.findall(text.lower()):
        v[int(hashlib.sha256(w.encode()).hexdigest(), 16) % DIM] += 1.0
    return v


class FakeEmbedder:
    def __init__(self) -> None:
        self.embedded: list[str] = []
        self.fail = False

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        if self.fail:
            raise ModelUnavailable("embeddings down (fake)")
        self.embedded.extend(texts)
        return [bag_of_words(t) for t in texts]


class Crash(Exception):
    """Stands for the process dying mid-way."""


@dataclass
class Sent:
    business_id: str
    channel_id: str
    to: str
    text: str
    tokens: ProviderTokens
    template: Template | None = None


class FakeSender:
    """Records sends and read receipts; ``fail_with`` fails the next sends in order,
    ``refuse_text`` fails every free-text send with it (a closed window on Meta's side)."""

    def __init__(self) -> None:
        self.sent: list[Sent] = []
        self.read: list[str] = []
        self.fail_with: list[BaseException] = []
        self.refuse_text: BaseException | None = None
        self.fail_reads: BaseException | None = None

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
        if self.fail_with:
            raise self.fail_with.pop(0)
        if template is None and self.refuse_text is not None:
            raise self.refuse_text
        self.sent.append(Sent(business.id, channel_id, to, text, tokens, template))
        return f"wamid.out{len(self.sent)}"

    async def mark_read(
        self, business: Business, tokens: ProviderTokens, channel_id: str, message_id: str
    ) -> None:
        if self.fail_reads is not None:
            raise self.fail_reads
        self.read.append(message_id)


class InMemoryWindows:
    def __init__(self) -> None:
        self.last: dict[str, datetime] = {}
        self.reads = 0

    async def last_inbound(self, conversation: str) -> datetime | None:
        self.reads += 1
        return self.last.get(conversation)

    async def record(self, conversation: str, at: datetime) -> None:
        known = self.last.get(conversation)
        self.last[conversation] = at if known is None else max(known, at)


class FakeMedia:
    """Media by id; an id not in ``files`` is MediaUnavailable."""

    def __init__(self) -> None:
        self.files: dict[str, FetchedMedia] = {}
        self.fetched: list[str] = []

    async def fetch(
        self, business: Business, tokens: ProviderTokens, media_id: str
    ) -> FetchedMedia:
        self.fetched.append(media_id)
        if media_id not in self.files:
            raise MediaUnavailable(f"no media {media_id} (fake)")
        return self.files[media_id]


class FakePublisher:
    def __init__(self) -> None:
        self.published: list[tuple[Event, str]] = []
        self.fail_with: list[BaseException] = []

    async def publish(self, event: Event, key: str) -> None:
        if self.fail_with:
            raise self.fail_with.pop(0)
        self.published.append((event, key))


class InMemoryLookup:
    def __init__(self) -> None:
        self.businesses: dict[str, Business] = {}
        self.calls = 0

    def add(self, business: Business) -> None:
        for c in business.channel_ids:
            self.businesses[f"{business.tenant}|{c}"] = business

    async def by_channel(self, tenant: str, channel_id: str) -> Business | None:
        self.calls += 1
        return self.businesses.get(f"{tenant}|{channel_id}")


class InMemoryLedger:
    def __init__(self) -> None:
        self.records: dict[str, ReplyRecord] = {}

    async def claim(self, message_id: str, conversation: str, now: datetime) -> ReplyRecord | None:
        if message_id in self.records:
            return self.records[message_id]
        self.records[message_id] = ReplyRecord(message_id, ReplyState.CLAIMED)
        return None

    async def skip(self, message_id: str, reason: str, business_id: str | None) -> None:
        r = self.records[message_id]
        if r.state in (ReplyState.CLAIMED, ReplyState.MODEL_DONE):
            self.records[message_id] = replace(
                r, state=ReplyState.SKIPPED, reason=reason, business_id=business_id
            )

    async def store_reply(self, message_id: str, business_id: str, reply: Reply) -> ReplyRecord:
        r = self.records[message_id]
        if r.state is ReplyState.CLAIMED:
            r = replace(r, state=ReplyState.MODEL_DONE, reply=reply, business_id=business_id)
            self.records[message_id] = r
        return r

    async def _move(self, message_id: str, frm: ReplyState, to: ReplyState, **extra: Any) -> bool:
        r = self.records[message_id]
        if r.state is not frm:
            return False
        self.records[message_id] = replace(r, state=to, **extra)
        return True

    async def begin_send(self, message_id: str) -> bool:
        return await self._move(message_id, ReplyState.MODEL_DONE, ReplyState.SENDING)

    async def abort_send(self, message_id: str) -> None:
        await self._move(message_id, ReplyState.SENDING, ReplyState.MODEL_DONE)

    async def mark_sent(self, message_id: str, provider_message_id: str, at: datetime) -> bool:
        return await self._move(
            message_id,
            ReplyState.SENDING,
            ReplyState.SENT,
            provider_message_id=provider_message_id,
            sent_at=at,
        )

    async def mark_published(self, message_id: str) -> None:
        self.records[message_id] = replace(self.records[message_id], published=True)


class InMemoryConversations:
    def __init__(self) -> None:
        self.messages: dict[str, StoredMessage] = {}

    async def recent(self, conversation: str, limit: int) -> list[StoredMessage]:
        turns = [m for m in self.messages.values() if m.conversation == conversation]
        return turns[-limit:] if limit > 0 else []

    async def append(self, messages: Sequence[StoredMessage]) -> None:
        for m in messages:
            self.messages.setdefault(m.id, m)


@dataclass
class InMemoryUsage:
    days: dict[tuple[str, date], Reply] = field(default_factory=dict)
    counted: set[str] = field(default_factory=set)
    spent: dict[str, float] = field(default_factory=dict)
    tenant_spent: dict[tuple[str, str], float] = field(default_factory=dict)

    async def add(self, business: Business, day: date, reply: Reply, *, counted_key: str) -> None:
        if counted_key in self.counted:
            return
        self.counted.add(counted_key)
        self.spent[business.id] = self.spent.get(business.id, 0.0) + reply.cost_usd
        today = (business.tenant, day.isoformat())
        self.tenant_spent[today] = self.tenant_spent.get(today, 0.0) + reply.cost_usd
        old = self.days.get((business.id, day), Reply(text="", prompt_tokens=0))
        self.days[(business.id, day)] = Reply(
            text="",
            prompt_tokens=old.prompt_tokens + reply.prompt_tokens,
            completion_tokens=old.completion_tokens + reply.completion_tokens,
            cost_usd=old.cost_usd + reply.cost_usd,
        )

    async def month_cost(self, business_id: str, month: str) -> float:
        return self.spent.get(business_id, 0.0)

    async def tenant_day_cost(self, tenant: str, day: str) -> float:
        return self.tenant_spent.get((tenant, day), 0.0)


class InMemoryLimiter:
    def __init__(self) -> None:
        self.counts: dict[tuple[str, int], int] = {}

    async def allow(self, business_id: str, per_minute: int, now: float) -> bool:
        key = (business_id, int(now // 60))
        self.counts[key] = self.counts.get(key, 0) + 1
        return self.counts[key] <= per_minute


class InMemoryKnowledge:
    def __init__(self) -> None:
        self.by_business: dict[str, list[KnowledgeChunk]] = {}
        self.versions: dict[str, str] = {}

    def set(self, business_id: str, chunks: list[KnowledgeChunk]) -> None:
        self.by_business[business_id] = chunks
        self.versions[business_id] = self.versions.get(business_id, "") + "+"

    async def chunks(self, business_id: str) -> list[KnowledgeChunk]:
        return self.by_business.get(business_id, [])

    async def version(self, business_id: str) -> str:
        return self.versions.get(business_id, "")


def fixed_now() -> datetime:
    return datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


class InMemoryConfig(CommonInMemoryConfig):
    """The control plane's view (common's in-memory one) with helpers to bind channels,
    suspend tenants and offer models."""

    def bind(self, channel: str, tenant: str, account: str = "acct-1") -> None:
        kind, _, channel_id = channel.partition("/")
        waba = "1" if kind == "whatsapp" else None
        self.put(Channel(kind=kind, id=channel_id, tenant=tenant, account_id=account, waba_id=waba))

    def suspend(self, tenant: str) -> None:
        self.put(Tenant(id=tenant, name=tenant, status="suspended"))

    def offer(self, model: str, input_per_1k: str = "1", output_per_1k: str = "2") -> None:
        """The operator offers ``model`` at these prices (USD per 1,000 tokens)."""
        self.put(
            ModelPrice(
                id=model,
                input_per_1k_usd=Decimal(input_per_1k),
                output_per_1k_usd=Decimal(output_per_1k),
            )
        )

    def plan(
        self, tenant: str, models: tuple[str, ...] = (), spend_per_day_usd: str = "1000"
    ) -> None:
        """``tenant`` with a plan allowing ``models`` and ``spend_per_day_usd``."""
        limits = PlanLimits(allowed_models=models, spend_per_day_usd=Decimal(spend_per_day_usd))
        self.put(Tenant(id=tenant, name=tenant, limits=limits))


class InMemoryVoiceLookup:
    def __init__(self) -> None:
        self.businesses: list[Business] = []
        self.lookups = 0

    def add(self, business: Business) -> None:
        self.businesses.append(business)

    async def by_voice_channel(self, tenant: str, channel: str) -> Business | None:
        self.lookups += 1
        return next(
            (b for b in self.businesses if b.tenant == tenant and channel in b.voice.channels),
            None,
        )


class FakeToolCaller:
    """Records http tool calls; answers ``answer`` or raises ToolFailed(``fail``)."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.answer = "done"
        self.fail: str | None = None

    async def call(
        self,
        spec: Any,
        tool_call_id: str,
        arguments: dict[str, Any],
        context: Any,
        *,
        timeout_s: float,
        now: datetime | None = None,
    ) -> str:
        self.calls.append(
            {"tool": spec.name, "id": tool_call_id, "arguments": arguments, "timeout_s": timeout_s}
        )
        if self.fail is not None:
            raise ToolFailed(self.fail)
        return self.answer
