"""Providers' REST APIs, read-only: the final state of a call (Twilio, Vapi) and ElevenLabs'
conversations (listed, then fetched one by one) over httpx.

Base URLs come from settings, so the provider simulator can stand in; credentials from the
control plane's view (:class:`~switchboard.history.credentials.ProviderCredentials`), read at
every request; tests pass an ``httpx.MockTransport``. HTTP failures become
``ProviderUnavailableError``.
"""

from collections.abc import AsyncGenerator
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote

import httpx
import structlog

from switchboard.common.events import CallReport, CallStatus
from switchboard.history.credentials import ProviderCredentials
from switchboard.history.errors import ProviderUnavailableError
from switchboard.history.models import ConversationSummary, ProviderCallState
from switchboard.history.settings import ReconcileSettings

log = structlog.get_logger(__name__)
TWILIO_API_VERSION = "2010-04-01"
# Vapi's endedReason → our status; anything else that ended is a completed call.
_VAPI_ENDED: dict[str, CallStatus] = {
    "customer-busy": CallStatus.BUSY,
    "customer-did-not-answer": CallStatus.NO_ANSWER,
    "customer-did-not-give-microphone-permission": CallStatus.FAILED,
    "twilio-failed-to-connect-call": CallStatus.FAILED,
    "assistant-error": CallStatus.FAILED,
    "pipeline-error": CallStatus.FAILED,
}
_VAPI_LIVE: dict[str, CallStatus] = {
    "queued": CallStatus.QUEUED,
    "ringing": CallStatus.RINGING,
    "in-progress": CallStatus.IN_PROGRESS,
    "forwarding": CallStatus.IN_PROGRESS,
}


def _twilio_time(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return parsedate_to_datetime(str(value)).astimezone(UTC)
    except (TypeError, ValueError):
        return None


def _iso_time(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        at = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _int(value: Any) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


# ElevenLabs conversation status → ours; the others (initiated, in-progress, processing) are live.
_ELEVENLABS_ENDED: dict[str, CallStatus] = {
    "done": CallStatus.COMPLETED,
    "failed": CallStatus.FAILED,
}
ELEVENLABS_PAGE_SIZE = 100  # the API's maximum


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _unix(value: Any) -> datetime | None:
    seconds = _int(value)
    return datetime.fromtimestamp(seconds, UTC) if seconds is not None else None


def report_of_conversation(conversation: dict[str, Any], now: datetime) -> CallReport | None:
    """What the post-call webhook would have said, from a fetched conversation (the same
    fields, parsed as leniently); ``None`` while the conversation has not ended."""
    status = _ELEVENLABS_ENDED.get(str(conversation.get("status", "")))
    conversation_id = conversation.get("conversation_id")
    if status is None or not isinstance(conversation_id, str) or not conversation_id:
        return None
    meta = _dict(conversation.get("metadata"))
    phone = _dict(meta.get("phone_call"))
    analysis = _dict(conversation.get("analysis"))
    started, duration = (
        _unix(meta.get("start_time_unix_secs")),
        _int(meta.get("call_duration_secs")),
    )
    duration = max(duration, 0) if duration is not None else None
    ended = started + timedelta(seconds=duration) if started and duration is not None else None
    turns = conversation.get("transcript")
    lines = [
        f"{turn.get('role')}: {turn.get('message')}"
        for turn in (turns if isinstance(turns, list) else [])
        if isinstance(turn, dict) and turn.get("message")
    ]
    verdict = analysis.get("call_successful")

    def text(value: Any) -> str | None:
        return str(value) if value not in (None, "") else None

    return CallReport(
        provider="elevenlabs",
        call_id=conversation_id,
        telephony_call_id=text(phone.get("call_sid")),
        agent_id=text(conversation.get("agent_id")),
        status=status,
        ended_reason=text(conversation.get("failure_reason") or meta.get("termination_reason")),
        started_at=started,
        ended_at=ended,
        duration_s=duration,
        customer_number=text(phone.get("external_number")),
        summary=text(analysis.get("transcript_summary")),
        transcript="\n".join(lines) or None,
        successful=(verdict == "success") if verdict else None,
        occurred_at=ended or now,
        raw={"reconciled": "true", "type": "post_call_transcription", "data": conversation},
    )


class ProviderClient:
    """The reconciler's :class:`~switchboard.history.repository.ProviderLookup` over the
    providers' REST APIs (httpx): one call's state; ElevenLabs' conversations and reports."""

    def __init__(
        self,
        settings: ReconcileSettings,
        http: httpx.AsyncClient,
        credentials: ProviderCredentials,
    ) -> None:
        self._settings = settings
        self._http = http
        self._credentials = credentials

    async def _get(self, url: str, **kwargs: Any) -> dict[str, Any] | None:
        try:
            response = await self._http.get(url, timeout=self._settings.timeout_s, **kwargs)
        except httpx.HTTPError as exc:
            raise ProviderUnavailableError(f"GET {url}: {exc!r}") from exc
        if response.status_code == httpx.codes.NOT_FOUND:
            log.warning("call unknown to the provider", url=url)
            return None
        if response.status_code in (httpx.codes.UNAUTHORIZED, httpx.codes.FORBIDDEN):
            log.error("provider refused our credentials", url=url, status=response.status_code)
            return None
        if response.is_error:
            raise ProviderUnavailableError(f"GET {url}: HTTP {response.status_code}")
        try:
            body = response.json()
        except ValueError as exc:
            raise ProviderUnavailableError(f"GET {url}: not JSON") from exc
        return body if isinstance(body, dict) else None

    async def fetch(
        self, provider: str, call_id: str, account_id: str | None, tenant: str | None = None
    ) -> ProviderCallState | None:
        if provider == "twilio":
            return await self._twilio(call_id, account_id)
        if provider == "vapi":
            return await self._vapi(call_id, account_id, tenant)
        log.info("no lookup for this provider", provider=provider, call_id=call_id)
        return None

    async def _twilio(self, call_id: str, account_id: str | None) -> ProviderCallState | None:
        auth = self._credentials.twilio(account_id)
        if account_id is None or auth is None:
            log.warning("no Twilio credentials for the call's account", account_id=account_id)
            return None
        base = self._settings.twilio_base_url.rstrip("/")
        url = f"{base}/{TWILIO_API_VERSION}/Accounts/{account_id}/Calls/{call_id}.json"
        body = await self._get(url, auth=auth)
        if body is None:
            return None
        try:
            status = CallStatus(str(body.get("status")))
        except ValueError:
            return None
        return ProviderCallState(
            status=status,
            direction=body.get("direction"),
            from_number=body.get("from"),
            to_number=body.get("to"),
            duration_s=_int(body.get("duration")),
            answered_by=body.get("answered_by"),
            occurred_at=_twilio_time(body.get("end_time")),
        )

    async def delete_recording(
        self, provider: str, account_id: str | None, recording_id: str
    ) -> bool:
        """Twilio ``DELETE /2010-04-01/Accounts/{AC}/Recordings/{RE}.json`` (204; 404 when
        it is gone already: deleted all the same)."""
        auth = self._credentials.twilio(account_id) if provider == "twilio" else None
        if account_id is None or auth is None:
            log.warning("no credentials to delete the recording", account_id=account_id)
            return False
        base = self._settings.twilio_base_url.rstrip("/")
        url = (
            f"{base}/{TWILIO_API_VERSION}/Accounts/{quote(account_id, safe='')}/Recordings/"
            f"{quote(recording_id, safe='')}.json"
        )
        try:
            response = await self._http.delete(url, auth=auth, timeout=self._settings.timeout_s)
        except httpx.HTTPError as exc:
            raise ProviderUnavailableError(f"DELETE {url}: {exc!r}") from exc
        if response.status_code in (httpx.codes.NO_CONTENT, httpx.codes.OK, httpx.codes.NOT_FOUND):
            return True
        raise ProviderUnavailableError(f"DELETE {url}: HTTP {response.status_code}")

    async def _vapi(
        self, call_id: str, account_id: str | None, tenant: str | None
    ) -> ProviderCallState | None:
        key = self._credentials.vapi(account_id, tenant)
        if not key:
            log.warning("no Vapi API key; cannot reconcile", call_id=call_id)
            return None
        url = f"{self._settings.vapi_base_url.rstrip('/')}/call/{call_id}"
        body = await self._get(url, headers={"authorization": f"Bearer {key}"})
        if body is None:
            return None
        raw_status = str(body.get("status", ""))
        if raw_status == "ended":
            status = _VAPI_ENDED.get(str(body.get("endedReason", "")), CallStatus.COMPLETED)
        elif raw_status in _VAPI_LIVE:
            status = _VAPI_LIVE[raw_status]
        else:
            return None
        started, ended = _iso_time(body.get("startedAt")), _iso_time(body.get("endedAt"))
        duration = int((ended - started).total_seconds()) if started and ended else None
        customer = body.get("customer")
        return ProviderCallState(
            status=status,
            to_number=customer.get("number") if isinstance(customer, dict) else None,
            duration_s=max(duration, 0) if duration is not None else None,
            occurred_at=ended,
        )

    async def elevenlabs_conversations(
        self, api_key: str, started_after: datetime, started_before: datetime
    ) -> AsyncGenerator[list[ConversationSummary], None]:
        """Pages of the workspace's conversations started in the window (newest first), at
        most ``elevenlabs_page_limit`` pages."""
        base = self._settings.elevenlabs_base_url.rstrip("/")
        params: dict[str, str | int] = {
            "call_start_after_unix": int(started_after.timestamp()),
            "call_start_before_unix": int(started_before.timestamp()),
            "page_size": ELEVENLABS_PAGE_SIZE,
        }
        for _ in range(self._settings.elevenlabs_page_limit):
            body = await self._get(
                f"{base}/v1/convai/conversations", params=params, headers={"xi-api-key": api_key}
            )
            if body is None:
                return
            rows = body.get("conversations")
            page = [
                ConversationSummary(
                    conversation_id=row["conversation_id"],
                    ended=str(row.get("status", "")) in _ELEVENLABS_ENDED,
                    start_time=_unix(row.get("start_time_unix_secs")),
                    duration_s=_int(row.get("call_duration_secs")),
                )
                for row in (rows if isinstance(rows, list) else [])
                if isinstance(row, dict) and isinstance(row.get("conversation_id"), str)
            ]
            yield page
            cursor = body.get("next_cursor")
            if not body.get("has_more") or not isinstance(cursor, str) or not cursor:
                return
            params["cursor"] = cursor

    async def elevenlabs_report(
        self, api_key: str, conversation_id: str, now: datetime
    ) -> CallReport | None:
        """What the post-call webhook would have said of the conversation; ``None`` when it
        has not ended, is not found, or is not the one asked for."""
        body = await self.elevenlabs_conversation(api_key, conversation_id)
        report = report_of_conversation(body, now) if body is not None else None
        return report if report is not None and report.call_id == conversation_id else None

    async def elevenlabs_conversation(
        self, api_key: str, conversation_id: str
    ) -> dict[str, Any] | None:
        """One conversation with its transcript, analysis and metadata."""
        base = self._settings.elevenlabs_base_url.rstrip("/")
        return await self._get(
            f"{base}/v1/convai/conversations/{quote(conversation_id, safe='')}",
            headers={"xi-api-key": api_key},
        )
