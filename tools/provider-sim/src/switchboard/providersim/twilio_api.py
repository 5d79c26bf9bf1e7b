"""Twilio's REST API (calls and messages) as the ``twilio`` SDK calls it.

Basic auth (AccountSid:AuthToken) → 401/20003; every request counts against the account's
request concurrency (429/20429); errors carry Twilio's JSON body.
"""

import asyncio
import base64
import binascii
import contextlib
import hmac
from collections.abc import AsyncIterator
from datetime import date, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import State
from litestar.params import FromPath

from switchboard.providersim.deps import CallsDep, MessagesDep, SimDep
from switchboard.providersim.limits import TwilioError, authenticate
from switchboard.providersim.state import CallRecord, SimState
from switchboard.providersim.twilio_calls import rfc2822
from switchboard.providersim.twilio_recordings import API_VERSION

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
AnyRequest = Request[Any, Any, State]


def call_json(call: CallRecord) -> dict[str, Any]:
    """The call as Twilio's REST API shows it."""
    base = f"/{API_VERSION}/Accounts/{call.account_sid}/Calls/{call.sid}"
    return {
        "account_sid": call.account_sid,
        "annotation": None,
        "answered_by": call.answered_by if call.answered_at else None,
        "api_version": API_VERSION,
        "caller_name": None,
        "date_created": rfc2822(call.created_at),
        "date_updated": rfc2822(call.updated_at),
        "direction": "outbound-api",
        "duration": str(call.duration_s) if call.duration_s is not None else None,
        "end_time": rfc2822(call.ended_at),
        "forwarded_from": None,
        "from": call.from_,
        "from_formatted": call.from_,
        "group_sid": None,
        "parent_call_sid": None,
        "phone_number_sid": None,
        "price": f"-{0.013 * max(1, -(-(call.duration_s or 0) // 60)):.5f}"
        if call.duration_s
        else None,
        "price_unit": "USD",
        "queue_time": str(call.queue_time_ms),
        "sid": call.sid,
        "start_time": rfc2822(call.started_at),
        "status": call.status,
        "subresource_uris": {
            "notifications": f"{base}/Notifications.json",
            "recordings": f"{base}/Recordings.json",
            "events": f"{base}/Events.json",
        },
        "to": call.to,
        "to_formatted": call.to,
        "trunk_sid": None,
        "uri": f"{base}.json",
    }


def error_response(error: TwilioError) -> Response[dict[str, Any]]:
    return Response(error.body(), status_code=error.status)


def not_found(path: str) -> TwilioError:
    return TwilioError(20404, f"The requested resource {path} was not found", 404)


def check_auth(sim: SimState, request: AnyRequest, account_sid: str) -> None:
    """Basic auth must name the path's account with its current token."""
    header = request.headers.get("authorization", "")
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        raise authenticate()
    try:
        user, _, password = base64.b64decode(encoded).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise authenticate() from exc
    account = sim.config.twilio_accounts.get(user)
    if (
        account is None
        or user != account_sid
        or not hmac.compare_digest(password.encode(), account.auth_token.encode())
    ):
        raise authenticate()


async def form_pairs(request: AnyRequest) -> list[tuple[str, str]]:
    """Form fields in order, repeated names kept (``StatusCallbackEvent``)."""
    return parse_qsl((await request.body()).decode(), keep_blank_values=True)


def query_pairs(request: AnyRequest) -> list[tuple[str, str]]:
    return parse_qsl(request.scope.get("query_string", b"").decode(), keep_blank_values=True)


def _parse_when(value: str) -> date | datetime:
    if "T" in value or " " in value:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    return date.fromisoformat(value)


def _matches_time(call: CallRecord, op: str, value: str) -> bool:
    # As Twilio: StartTime is when the call left the queue; a call still queued has none,
    # so no StartTime filter matches it (list by To/From and read date_created instead).
    when = call.started_at
    if when is None:
        return False
    bound = _parse_when(value)
    mine: date | datetime = when.date() if not isinstance(bound, datetime) else when
    if op == ">":  # the SDK's "StartTime>" and the raw "StartTime>=" both mean on or after
        return mine >= bound
    if op == "<":
        return mine <= bound
    return mine == bound


def filter_calls(calls: list[CallRecord], query: list[tuple[str, str]]) -> list[CallRecord]:
    """Twilio's list filters: To, From, Status, StartTime (=, >=, <=); newest (by creation)
    first."""
    selected = calls
    for name, value in query:
        key = name.rstrip("=")
        if key == "To":
            selected = [c for c in selected if c.to == value]
        elif key == "From":
            selected = [c for c in selected if c.from_ == value]
        elif key == "Status":
            selected = [c for c in selected if c.status == value]
        elif key.startswith("StartTime"):
            op = key.removeprefix("StartTime")
            selected = [c for c in selected if _matches_time(c, op, value)]
    return sorted(selected, key=lambda c: c.created_at, reverse=True)


def _int(value: str | None, default: int) -> int:
    return int(value) if value is not None and value.isdigit() else default


def page_of(
    items: list[dict[str, Any]], key: str, path: str, query: list[tuple[str, str]]
) -> dict[str, Any]:
    """One page in Twilio's envelope (``page``, ``page_size``, ``next_page_uri``…)."""
    params = dict(query)
    size = max(1, min(MAX_PAGE_SIZE, _int(params.get("PageSize"), DEFAULT_PAGE_SIZE)))
    page = max(0, _int(params.get("Page"), 0))
    start = page * size
    chunk = items[start : start + size]
    filters = [(k, v) for k, v in query if k not in ("Page", "PageSize", "PageToken")]

    def uri(n: int) -> str:
        return f"{path}?{urlencode([*filters, ('PageSize', size), ('Page', n)])}"

    return {
        key: chunk,
        "end": start + max(0, len(chunk) - 1),
        "first_page_uri": uri(0),
        "next_page_uri": uri(page + 1) if start + size < len(items) else None,
        "page": page,
        "page_size": size,
        "previous_page_uri": uri(page - 1) if page > 0 else None,
        "start": start,
        "uri": uri(page),
    }


@contextlib.asynccontextmanager
async def admitted(sim: SimState, request: AnyRequest, account_sid: str) -> AsyncIterator[None]:
    """Authenticate and count the request against the account's concurrency while it runs."""
    try:
        check_auth(sim, request, account_sid)
        limiter = sim.limiter(account_sid)
        limiter.begin_request()
    except TwilioError as exc:
        sim.record("twilio.api.rejected", account_sid=account_sid, code=exc.code)
        raise
    try:
        latency = sim.config.twilio_accounts[account_sid].api_latency_ms
        if latency:
            await asyncio.sleep(latency / 1000)
        yield
    except TwilioError as exc:
        sim.record("twilio.api.rejected", account_sid=account_sid, code=exc.code)
        raise
    finally:
        limiter.end_request()


def twilio_error_handler(_: AnyRequest, exc: TwilioError) -> Response[dict[str, Any]]:
    return error_response(exc)


def find_call(sim: SimState, account_sid: str, call_file: str, path: str) -> CallRecord:
    call = sim.calls.get(call_file.removesuffix(".json"))
    if call is None or call.account_sid != account_sid:
        raise not_found(path)
    return call


class TwilioApi(Controller):
    """Calls and messages of one account (``/2010-04-01/Accounts/{AccountSid}``)."""

    path = f"/{API_VERSION}/Accounts/{{account_sid:str}}"
    include_in_schema = False
    exception_handlers = {TwilioError: twilio_error_handler}  # noqa: RUF012 - Litestar's API

    @post("/Calls.json", status_code=201)
    async def create_call(
        self, request: AnyRequest, account_sid: FromPath[str], sim: SimDep, calls: CallsDep
    ) -> dict[str, Any]:
        async with admitted(sim, request, account_sid):
            return call_json(calls.create(account_sid, await form_pairs(request)))

    @get("/Calls.json")
    async def list_calls(
        self, request: AnyRequest, account_sid: FromPath[str], sim: SimDep
    ) -> dict[str, Any]:
        async with admitted(sim, request, account_sid):
            query = query_pairs(request)
            mine = [c for c in sim.calls.values() if c.account_sid == account_sid]
            items = [call_json(c) for c in filter_calls(mine, query)]
            path = f"/{API_VERSION}/Accounts/{account_sid}/Calls.json"
            return page_of(items, "calls", path, query)

    @get("/Calls/{call_file:str}")
    async def fetch_call(
        self, request: AnyRequest, account_sid: FromPath[str], call_file: FromPath[str], sim: SimDep
    ) -> dict[str, Any]:
        async with admitted(sim, request, account_sid):
            return call_json(find_call(sim, account_sid, call_file, request.url.path))

    @post("/Calls/{call_file:str}", status_code=200)
    async def update_call(
        self,
        request: AnyRequest,
        account_sid: FromPath[str],
        call_file: FromPath[str],
        sim: SimDep,
        calls: CallsDep,
    ) -> dict[str, Any]:
        async with admitted(sim, request, account_sid):
            call = find_call(sim, account_sid, call_file, request.url.path)
            form = dict(await form_pairs(request))
            status, twiml = form.get("Status"), form.get("Twiml")
            if twiml and not status:  # redirect the live call (e.g. a voicemail drop)
                calls.redirect(call, twiml)
                return call_json(call)
            calls.update(call, status)
            sim.record("twilio.call.updated", sid=call.sid, requested=status)
            return call_json(call)

    @post("/Messages.json", status_code=201)
    async def create_message(
        self, request: AnyRequest, account_sid: FromPath[str], sim: SimDep, messages: MessagesDep
    ) -> dict[str, Any]:
        async with admitted(sim, request, account_sid):
            return messages.create(account_sid, await form_pairs(request))

    @get("/Messages/{message_file:str}")
    async def fetch_message(
        self,
        request: AnyRequest,
        account_sid: FromPath[str],
        message_file: FromPath[str],
        sim: SimDep,
    ) -> dict[str, Any]:
        async with admitted(sim, request, account_sid):
            message = sim.messages.get(message_file.removesuffix(".json"))
            if message is None or message["account_sid"] != account_sid:
                raise not_found(request.url.path)
            return message
