"""Live-call answers from what the business knows: which assistant takes the call and with
what variables, tool results (knowledge, opening hours, transfer, the tenant's own HTTP
tools), and where to transfer the caller. Handlers over Protocols; the internal API
(``voice_api.py``) is their only caller.

Everything here is bounded by the deadline the ingress sends: tool calls of one request run
side by side, a tenant's HTTP tool gets what is left of the deadline (less a margin for the
way back), and a tool that fails answers an ``error`` for its own ``toolCallId`` while the
others answer normally.
"""

import asyncio
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Final, Protocol

import structlog
from cachetools import LRUCache
from prometheus_client import Counter

from switchboard.ai.adapters.http_tools import ToolContext
from switchboard.ai.errors import ToolFailed
from switchboard.ai.models import Business, RetrievedChunk, StoredMessage
from switchboard.ai.repository import ConversationStore
from switchboard.ai.voice_lookup import VoiceBusinesses
from switchboard.ai.voice_models import (
    DAY_NAMES,
    ToolSpec,
    allowed_overrides,
    describe_day,
    hours_answer,
    local_time,
    open_at,
    spoken_knowledge,
    transfer_destination,
)
from switchboard.common.errors import SwitchboardError
from switchboard.common.events import conversation_key
from switchboard.common.voice import (
    AssistantAnswer,
    AssistantQuery,
    ToolCall,
    ToolResult,
    ToolsAnswer,
    ToolsQuery,
    TransferAnswer,
    TransferQuery,
)

log = structlog.get_logger(__name__)
ANSWERS = Counter(
    "switchboard_ai_voice_answers_total",
    "Voice queries answered by the AI service, by request and outcome (answered, unowned).",
    ["request", "outcome"],
)
TOOL_CALLS = Counter(
    "switchboard_ai_voice_tool_calls_total",
    "Voice tool calls by kind and outcome (ok, error).",
    ["kind", "outcome"],
)
RETURN_MARGIN_S: Final = 0.15
"""Kept from the deadline for the answer's way back to the ingress."""
CALLER_TURNS: Final = 20


class KnowledgeSearch(Protocol):
    async def retrieve(self, business_id: str, text: str) -> list[RetrievedChunk]: ...


class ToolCaller(Protocol):
    async def call(
        self,
        spec: ToolSpec,
        tool_call_id: str,
        arguments: dict[str, Any],
        context: ToolContext,
        *,
        timeout_s: float,
        now: datetime | None = None,
    ) -> str: ...


class QueryEmbeddings:
    """An embedder that remembers the vectors of recent single texts: callers ask the same
    few questions ("are you open on Sunday?"), and an embedding is a model round trip."""

    def __init__(self, embedder: Any, max_entries: int = 2048) -> None:
        self._embedder = embedder
        self._cache: LRUCache[str, list[float]] = LRUCache(max_entries)

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        if len(texts) != 1:
            return list(await self._embedder.embed(texts))
        key = " ".join(texts[0].lower().split())
        cached = self._cache.get(key)
        if cached is None:
            [cached] = await self._embedder.embed(texts)
            self._cache[key] = cached
        return [cached]


class VoiceService:
    def __init__(
        self,
        businesses: VoiceBusinesses,
        knowledge: KnowledgeSearch,
        memory: ConversationStore,
        tools: ToolCaller,
        *,
        knowledge_chars: int = 600,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._businesses = businesses
        self._knowledge = knowledge
        self._memory = memory
        self._tools = tools
        self._knowledge_chars = knowledge_chars
        self._now = now

    # --- assistant ----------------------------------------------------------------------------

    async def assistant(self, q: AssistantQuery) -> AssistantAnswer | None:
        """The business's assistant with this call's variables; None: unowned."""
        found = await self._businesses.find(q.channels, q.tenant)
        if found is None:
            ANSWERS.labels(q.request, "unowned").inc()
            return None
        b, p = found.business, found.business.voice
        variables = {**p.variables, **self._computed(b, self._now())}
        variables.update(await self._caller(b, q.caller))
        ANSWERS.labels(q.request, "answered").inc()
        vapi = q.provider == "vapi"
        return AssistantAnswer(
            business_id=b.id,
            business_name=b.name,
            assistant_id=p.vapi_assistant_id if vapi else None,
            assistant=dict(p.vapi_assistant) if vapi and p.vapi_assistant is not None else None,
            variables=variables,
            overrides=None
            if vapi
            else allowed_overrides(p.elevenlabs_allowed_overrides, p.elevenlabs_overrides),
        )

    def _computed(self, b: Business, now: datetime) -> dict[str, str]:
        local = local_time(b.voice, now)
        today = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[local.weekday()]
        return {
            "business_name": b.name,
            "today": DAY_NAMES[local.weekday()],
            "local_time": local.strftime("%H:%M"),
            "hours_today": describe_day(b.voice, today),
            "open_now": "yes" if open_at(b.voice, now) else "no",
        }

    async def _caller(self, b: Business, caller: str | None) -> dict[str, str]:
        """What the business's conversations (WhatsApp, SMS) tell of the caller."""
        known = {
            "caller_number": caller or "",
            "caller_known": "no",
            "caller_last_contact": "",
            "caller_last_message": "",
        }
        if not caller:
            return known
        digits = caller.lstrip("+")
        keys = [conversation_key(c, digits) for c in b.whatsapp_phone_number_ids]
        keys += [conversation_key(c, caller) for c in b.twilio_numbers]
        if not keys:
            return known
        try:
            found = await asyncio.gather(*(self._memory.recent(k, CALLER_TURNS) for k in keys))
        except SwitchboardError as exc:  # memory is a nicety: the call goes on without it
            log.warning("caller memory unavailable", business_id=b.id, error=str(exc))
            return known
        turns: list[StoredMessage] = [t for conv in found for t in conv]
        if not turns:
            return known
        turns.sort(key=lambda t: t.at)
        theirs = [t for t in turns if t.role == "user"]
        known["caller_known"] = "yes"
        known["caller_last_contact"] = turns[-1].at.date().isoformat()
        if theirs:
            known["caller_last_message"] = theirs[-1].content[:200]
        return known

    # --- tools --------------------------------------------------------------------------------

    async def tools(self, q: ToolsQuery, deadline_s: float) -> ToolsAnswer | None:
        """A result or an error for every call; None: unowned."""
        found = await self._businesses.find(q.channels, q.tenant)
        if found is None:
            ANSWERS.labels(q.request, "unowned").inc()
            return None
        b = found.business
        budget = max(0.05, deadline_s - RETURN_MARGIN_S)
        results = await asyncio.gather(*(self._tool(b, q, call, budget) for call in q.calls))
        ANSWERS.labels(q.request, "answered").inc()
        return ToolsAnswer(business_id=b.id, results=list(results))

    async def _tool(
        self, b: Business, q: ToolsQuery, call: ToolCall, budget_s: float
    ) -> ToolResult:
        spec = b.voice.tool(call.name)
        if spec is None:
            TOOL_CALLS.labels("unknown", "error").inc()
            return ToolResult(id=call.id, name=call.name, error=f"no tool named {call.name}")
        try:
            text = await self._run(b, q, spec, call, budget_s)
        except TimeoutError:
            TOOL_CALLS.labels(spec.kind, "error").inc()
            return ToolResult(id=call.id, name=call.name, error="no answer in time")
        except ToolFailed as exc:
            TOOL_CALLS.labels(spec.kind, "error").inc()
            log.info("voice tool failed", tool=spec.name, business_id=b.id, error=str(exc))
            return ToolResult(id=call.id, name=call.name, error=str(exc))
        except SwitchboardError as exc:  # a store or the embedder is away
            TOOL_CALLS.labels(spec.kind, "error").inc()
            log.warning("voice tool unavailable", tool=spec.name, business_id=b.id, error=str(exc))
            return ToolResult(id=call.id, name=call.name, error="temporarily unavailable")
        TOOL_CALLS.labels(spec.kind, "ok").inc()
        return ToolResult(id=call.id, name=call.name, result=text)

    async def _run(
        self, b: Business, q: ToolsQuery, spec: ToolSpec, call: ToolCall, budget_s: float
    ) -> str:
        now = self._now()
        args = call.arguments
        if spec.kind == "search_knowledge":
            question = _text_arg(args, "query", "question", "q", "text")
            if not question:
                raise ToolFailed("search_knowledge needs a query")
            chunks = await asyncio.wait_for(self._knowledge.retrieve(b.id, question), budget_s)
            spoken = spoken_knowledge((c.chunk.text for c in chunks), self._knowledge_chars)
            return spoken or f"Nothing {b.name} has written down answers that."
        if spec.kind == "opening_hours":
            return hours_answer(b.voice, now, _text_arg(args, "day", "date") or None)
        if spec.kind == "transfer":
            number, message = transfer_destination(b.voice, now)
            if number is None:
                return message or "Nobody can take the call right now."
            return f"Transfer the caller to {number}." + (f" {message}" if message else "")
        context = ToolContext(b.id, q.provider, q.call_id, q.caller)
        return await self._tools.call(spec, call.id, args, context, timeout_s=budget_s, now=now)

    # --- transfer -----------------------------------------------------------------------------

    async def transfer(self, q: TransferQuery) -> TransferAnswer | None:
        """The business's destination for this moment; None: unowned."""
        found = await self._businesses.find(q.channels, q.tenant)
        if found is None:
            ANSWERS.labels(q.request, "unowned").inc()
            return None
        b = found.business
        number, message = transfer_destination(b.voice, self._now())
        ANSWERS.labels(q.request, "answered").inc()
        return TransferAnswer(business_id=b.id, number=number, message=message)


def _text_arg(args: dict[str, Any], *names: str) -> str:
    for name in names:
        value = args.get(name)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return ""
