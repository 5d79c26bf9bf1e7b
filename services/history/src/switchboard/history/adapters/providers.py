"""Providers' REST APIs, read-only: the final state of a call (Twilio, Vapi) over httpx.

Base URLs and credentials come from settings, so the provider simulator can stand in; tests
pass an ``httpx.MockTransport``. HTTP failures become ``ProviderUnavailableError``.
"""

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import structlog

from switchboard.common.events import CallStatus
from switchboard.history.errors import ProviderUnavailableError
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


class ProviderCallState(dict[str, Any]):
    """What a provider says about a call, in ``CallStatusChanged`` field names."""


class ProviderClient:
    """Fetches one call's state from its provider; ``None`` when it cannot be looked up."""

    def __init__(self, settings: ReconcileSettings, http: httpx.AsyncClient) -> None:
        self._settings = settings
        self._http = http

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
        self, provider: str, call_id: str, account_id: str | None
    ) -> ProviderCallState | None:
        if provider == "twilio":
            return await self._twilio(call_id, account_id)
        if provider == "vapi":
            return await self._vapi(call_id)
        log.info("no lookup for this provider", provider=provider, call_id=call_id)
        return None

    async def _twilio(self, call_id: str, account_id: str | None) -> ProviderCallState | None:
        token = self._settings.twilio_accounts.get(account_id or "")
        if account_id is None or token is None:
            log.warning("no Twilio credentials for the call's account", account_id=account_id)
            return None
        base = self._settings.twilio_base_url.rstrip("/")
        url = f"{base}/{TWILIO_API_VERSION}/Accounts/{account_id}/Calls/{call_id}.json"
        body = await self._get(url, auth=(account_id, token.get_secret_value()))
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

    async def _vapi(self, call_id: str) -> ProviderCallState | None:
        key = self._settings.vapi_api_key.get_secret_value()
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
