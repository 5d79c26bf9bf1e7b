"""Synchronous voice answers: after verification, ask the AI service within a deadline below
the platform's, answer the configured fallback past it (or when it fails, or when nobody owns
the call), publish the exchange as an event, count it.

The tenant is the owner of the call's channel as the directory says (the channel of the
account that verified the request, held by its tenant). A call no tenant owns is not asked of
the AI service: it gets the unowned default, and its exchange goes to ``unowned.events``.

The deadline runs from the request's arrival (verification and the body's read are inside
it). The event is published after the answer is known, with the delivery's own deadline
(``SWITCHBOARD_SPOOL__PUBLISH_DEADLINE_S``, then the spool): a platform's call cannot wait on
Kafka longer than that. A call must go on even when the event cannot be made durable at all
(spool full): the answer is sent anyway, the loss logged and counted — the one place the
ingress answers 2xx without a durable event, because a 503 would drop a live caller and Vapi
and ElevenLabs do not retry.
"""

import time
from datetime import UTC, datetime
from typing import Any, Final

import structlog

from switchboard.common.metrics import labelled
from switchboard.common.voice import (
    ASSISTANT_PATH,
    TOOLS_PATH,
    TRANSFER_PATH,
    AssistantQuery,
    ToolsQuery,
    TransferQuery,
    VoiceQuery,
)
from switchboard.ingress.errors import BrokerUnavailable, EventTooLarge
from switchboard.ingress.mappers import Owner, owned
from switchboard.ingress.mappers.voice_sync import Exchange, SyncRequest, exchange_event
from switchboard.ingress.metrics import VOICE_ANSWER_SECONDS, VOICE_ANSWERS, VOICE_EVENTS_LOST
from switchboard.ingress.settings import VoiceSettings
from switchboard.ingress.voice_answers import Shaped, answered, fallback
from switchboard.ingress.voice_client import VoiceAnswerFailed, VoiceAnswerTimeout, VoiceClient
from switchboard.ingress.webhooks.answers import FixedAnswer
from switchboard.ingress.webhooks.common import JSON, AnyRequest, accept, wiring

log = structlog.get_logger(__name__)
VOICE_STATE: Final = "voice"
"""Where the app keeps its :class:`VoiceClient` (``app.state``)."""
PATHS: Final = {
    "assistant-request": ASSISTANT_PATH,
    "conversation-initiation": ASSISTANT_PATH,
    "tool-calls": TOOLS_PATH,
    "function-call": TOOLS_PATH,
    "server-tool": TOOLS_PATH,
    "transfer-destination-request": TRANSFER_PATH,
}


def voice_client(request: AnyRequest) -> VoiceClient:
    client: VoiceClient = request.app.state[VOICE_STATE]
    return client


def deadline_s(r: SyncRequest, s: VoiceSettings) -> float:
    if r.request in ("assistant-request", "conversation-initiation"):
        return s.assistant_deadline_s
    if r.request == "server-tool":
        return s.elevenlabs_tool_deadline_s
    return s.server_message_deadline_s


def query_of(r: SyncRequest, tenant: str | None) -> VoiceQuery:
    common: dict[str, Any] = {
        "provider": r.provider,
        "request": r.request,
        "tenant": tenant,
        "call_id": r.call_id,
        "channels": r.channels,
        "caller": r.caller[:64] if r.caller else None,
    }
    if r.calls:
        return ToolsQuery(**common, calls=r.calls)
    if r.request == "transfer-destination-request":
        return TransferQuery(**common)
    return AssistantQuery(**common)


async def _ask(
    client: VoiceClient, r: SyncRequest, tenant: str | None, s: VoiceSettings, left_s: float
) -> Shaped:
    if tenant is None or not r.channels:
        return fallback(r, s, "unowned")
    try:
        ai = await client.ask(PATHS[r.request], query_of(r, tenant), left_s)
        return fallback(r, s, "unowned") if ai is None else answered(r, ai)
    except VoiceAnswerTimeout as exc:
        log.warning(
            "voice answer late: fallback", request=r.request, call_id=r.call_id, error=str(exc)
        )
        return fallback(r, s, "fallback_timeout")
    except VoiceAnswerFailed as exc:
        log.warning(
            "voice answer failed: fallback", request=r.request, call_id=r.call_id, error=str(exc)
        )
        return fallback(r, s, "fallback_error")


async def answer_sync(
    request: AnyRequest, r: SyncRequest, owner: Owner, arrived: float, route: str
) -> FixedAnswer[dict[str, Any]]:
    """Answer ``r`` (verified, its call owned by ``owner``) and publish the exchange;
    ``arrived`` is the monotonic time the request came in."""
    tenant = owner.tenant
    wired = wiring(request)
    s = wired.settings.voice
    left = deadline_s(r, s) - (time.monotonic() - arrived)
    shaped = await _ask(voice_client(request), r, tenant, s, max(left, 0.001))
    elapsed = time.monotonic() - arrived
    labelled(VOICE_ANSWERS, r.provider, r.request, shaped.outcome).inc()
    labelled(VOICE_ANSWER_SECONDS, r.provider, r.request).observe(elapsed)
    exchange = Exchange(
        request=r,
        tenant=tenant,
        outcome=shaped.outcome,
        answer=shaped.answer,
        answered_in_ms=elapsed * 1000,
        occurred_at=datetime.now(UTC),
        business_id=shaped.business_id,
        assistant_id=shaped.assistant_id,
        variables=shaped.variables,
        results=shaped.results,
        destination=shaped.destination,
    )
    try:
        await accept(route, wired.delivery, [owned(exchange_event(exchange), owner)])
    except (BrokerUnavailable, EventTooLarge) as exc:
        # The caller is on the line: answer anyway (see the module's docstring).
        labelled(VOICE_EVENTS_LOST, r.provider, exc.reason).inc()
        log.error(
            "voice exchange not made durable; answered anyway",
            request=r.request,
            call_id=r.call_id,
            reason=exc.reason,
        )
    return FixedAnswer(shaped.answer, status_code=200, media_type=JSON)
