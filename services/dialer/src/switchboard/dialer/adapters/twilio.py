"""Places calls through the official ``twilio`` SDK (its aiohttp client), against Twilio or
any server speaking its REST API (the provider simulator). Its errors become ours here: a
placement's become a :class:`~switchboard.dialer.errors.PlaceError` saying what the provider
did (see ``errors.py``), every other failure ``ProviderUnavailable``.
"""

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Final
from urllib.parse import quote

import aiohttp
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

from switchboard.dialer.errors import (
    NotPlaced,
    PlaceError,
    PlaceUnknown,
    ProviderUnavailable,
    Throttled,
)
from switchboard.dialer.repository import ProviderCall
from switchboard.dialer.settings import TwilioSettings

TWILIO_API: Final = "https://api.twilio.com"
TOO_MANY_REQUESTS: Final = 20429
CAPACITY_CODES: Final = frozenset({10004, 22005})
CALL_NOT_LIVE_CODES: Final = frozenset({21220})
"""Twilio's "Call is not in-progress. Cannot redirect." (the call ended meanwhile)."""
CLOCK_SKEW: Final = timedelta(seconds=60)
LIST_PAGE_SIZE: Final = 50
MAX_LIST_PAGES: Final = 20
Credentials = Callable[[str], tuple[str, str] | None]
"""AccountSid → (username, password) of its REST calls, None when not configured."""
STATUS_PATH: Final = "/webhooks/twilio/voice/status"
RECORDING_PATH: Final = "/webhooks/twilio/voice/recording"
RECORDING_EVENTS: Final = ("completed", "absent")
"""The recording statuses reported: the final ones (``in-progress`` tells history nothing)."""


class _BaseUrlHttpClient(AsyncTwilioHttpClient):  # type: ignore[misc]
    """The SDK's aiohttp client with Twilio's host swapped for a configured base URL."""

    def __init__(self, base_url: str, timeout_s: float) -> None:
        super().__init__(pool_connections=False, timeout=None)
        self._base = base_url.rstrip("/")
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self.session = aiohttp.ClientSession(
            timeout=self._timeout, connector=aiohttp.TCPConnector(limit=0)
        )

    async def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Response:
        if url.startswith(TWILIO_API):
            url = self._base + url[len(TWILIO_API) :]
        kwargs["timeout"] = None  # the session's ClientTimeout applies
        return await super().request(method, url, *args, **kwargs)


def status_callback_url(ingress: str, overrides: str, path: str = STATUS_PATH) -> str:
    url = f"{ingress.rstrip('/')}{path}"
    return f"{url}#{overrides}" if overrides else url


def with_channel(url: str, number: str) -> str:
    """``url`` with ``?channel=<number>`` before its fragment: callbacks whose form names no
    number (async AMD, recordings) tell the ingress the tenant's number this way."""
    base, hash_, fragment = url.partition("#")
    sep = "&" if "?" in base else "?"
    return f"{base}{sep}channel={quote(number, safe='')}{hash_}{fragment}"


class TwilioCallPlacer:
    """:class:`~switchboard.dialer.repository.CallPlacer` over the Twilio SDK.

    Create it inside a running event loop (aiohttp) and ``await close()`` at the end.
    """

    def __init__(
        self, settings: TwilioSettings, ingress_public_url: str, credentials: Credentials
    ) -> None:
        """``credentials(account_sid)``: (username, password) of REST calls on that account
        now, or None when it is not configured; read at every call, so a rotation applies
        to the next one."""
        # The SDK logs every request and its headers at INFO: costly at 200 calls/s, and noisy.
        logging.getLogger("twilio").setLevel(logging.WARNING)
        self._settings = settings
        self._credentials = credentials
        self._http = _BaseUrlHttpClient(str(settings.api_base_url), settings.request_timeout_s)
        self._clients: dict[str, tuple[tuple[str, str], Client]] = {}
        self._status_callback = status_callback_url(ingress_public_url, settings.callback_overrides)
        self._recording_callback = status_callback_url(
            ingress_public_url, settings.callback_overrides, RECORDING_PATH
        )
        amd_url = f"{ingress_public_url.rstrip('/')}{settings.amd_callback_path}"
        self._amd_callback = (
            f"{amd_url}#{settings.callback_overrides}" if settings.callback_overrides else amd_url
        )

    def _client(self, account_sid: str) -> Client:
        """The SDK client of the account's current credentials (made again when they change)."""
        found = self._credentials(account_sid)
        if found is None:
            self._clients.pop(account_sid, None)
            raise NotPlaced(f"account {account_sid} is not configured")
        cached = self._clients.get(account_sid)
        if cached is not None and cached[0] == found:
            return cached[1]
        username, password = found
        client = Client(
            username=username, password=password, account_sid=account_sid, http_client=self._http
        )
        self._clients[account_sid] = (found, client)
        return client

    async def place(
        self,
        account_sid: str,
        *,
        to: str,
        from_: str,
        twiml: str | None,
        url: str | None,
        amd: bool,
        amd_message_end: bool,
        record: bool = False,
    ) -> str:
        extra: dict[str, Any] = {}
        if record:
            extra.update(
                record=True,
                recording_status_callback=with_channel(self._recording_callback, from_),
                recording_status_callback_event=list(RECORDING_EVENTS),
                recording_status_callback_method="POST",
            )
        if twiml is not None:
            extra["twiml"] = twiml
        else:
            extra["url"] = url
        if amd:
            extra.update(
                machine_detection="DetectMessageEnd" if amd_message_end else "Enable",
                async_amd="true",
                async_amd_status_callback=with_channel(self._amd_callback, from_),
                async_amd_status_callback_method="POST",
            )
        try:
            call = await self._client(account_sid).calls.create_async(
                to=to,
                from_=from_,
                status_callback=self._status_callback,
                status_callback_event=list(self._settings.status_callback_events),
                status_callback_method="POST",
                timeout=self._settings.call_timeout_s,
                time_limit=self._settings.call_time_limit_s,
                **extra,
            )
        except TwilioRestException as exc:
            raise _placement_error(exc) from exc
        except (TwilioException, aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise PlaceUnknown(f"create call: {exc!r}") from exc
        if not call.sid:
            raise PlaceUnknown("create call: the answer had no sid")
        return str(call.sid)

    async def calls_to(
        self, account_sid: str, *, to: str, from_: str, since: datetime, until: datetime
    ) -> list[ProviderCall]:
        """Calls to ``to`` from ``from_`` created between ``since`` and ``until`` (each
        widened by ``CLOCK_SKEW``).

        Listed by To and From only and matched on ``date_created``: Twilio gives a call that
        is still queued no StartTime, so a StartTime filter misses exactly the call recovery
        must find. The list comes newest first; pages are read until one holds only calls
        created before the window."""
        low, high = since - CLOCK_SKEW, until + CLOCK_SKEW
        found: list[ProviderCall] = []
        try:
            page = await self._client(account_sid).calls.page_async(
                to=to, from_=from_, page_size=LIST_PAGE_SIZE
            )
            for _ in range(MAX_LIST_PAGES):
                calls = list(page)
                found += [_provider_call(c) for c in calls if _created_in(c, low, high)]
                if all(c.date_created is not None and c.date_created < low for c in calls):
                    return found
                page = await page.next_page_async()
                if page is None:
                    return found
        except (TwilioException, aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise ProviderUnavailable(f"list calls: {exc!r}") from exc
        # Never guess "no call" (that would dial again): leave the claim for a later look.
        raise ProviderUnavailable(
            f"list calls: more than {MAX_LIST_PAGES * LIST_PAGE_SIZE} calls to {to} from "
            f"{from_} since {low.isoformat()}"
        )

    async def fetch(self, account_sid: str, call_sid: str) -> ProviderCall:
        try:
            call = await self._client(account_sid).calls(call_sid).fetch_async()
        except (TwilioException, aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise ProviderUnavailable(f"fetch call: {exc!r}") from exc
        return _provider_call(call)

    async def hang_up(self, account_sid: str, call_sid: str) -> None:
        try:
            await self._client(account_sid).calls(call_sid).update_async(status="completed")
        except TwilioRestException:
            return  # already over
        except (TwilioException, aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise ProviderUnavailable(f"hang up: {exc!r}") from exc

    async def play_and_hang_up(self, account_sid: str, call_sid: str, twiml: str) -> None:
        """``POST Calls/{sid}`` with ``Twiml``: the live call plays it from now on."""
        try:
            await self._client(account_sid).calls(call_sid).update_async(twiml=twiml)
        except TwilioRestException as exc:
            if exc.status == 404 or exc.code in CALL_NOT_LIVE_CODES:
                return  # over already: nobody to leave a message to
            raise ProviderUnavailable(f"update call: {exc!r}") from exc
        except (TwilioException, aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise ProviderUnavailable(f"update call: {exc!r}") from exc

    async def close(self) -> None:
        await asyncio.shield(self._http.close())


def _created_in(call: Any, low: datetime, high: datetime) -> bool:
    created: datetime | None = call.date_created
    return created is None or low <= created <= high  # no date: count it, never redial


def _provider_call(call: Any) -> ProviderCall:
    return ProviderCall(
        sid=str(call.sid),
        to=str(call.to),
        from_=str(call._from),
        status=str(call.status),
        created_at=call.date_created,
        answered_by=call.answered_by,
    )


def _placement_error(exc: TwilioRestException) -> PlaceError:
    code = exc.code
    message = f"{exc.status} {code}: {exc.msg}"
    if code == TOO_MANY_REQUESTS or (exc.status == 429 and code not in CAPACITY_CODES):
        return Throttled(message, str(code or 429))
    if code in CAPACITY_CODES:
        return NotPlaced(message, str(code), capacity=True)
    if 400 <= exc.status < 500:
        return NotPlaced(message, str(code) if code else str(exc.status))
    return PlaceUnknown(message, str(code) if code else str(exc.status))
