"""Litestar controllers of the query API (the read side). Every handler receives a
``TenantHistory`` already bound to the caller's token tenant; none sees a tenant id."""

import csv
import io
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any

from litestar import Controller, Request, Response, get
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException, ValidationException
from litestar.params import FromPath, FromQuery, QueryParameter
from litestar.response import Stream
from litestar.status_codes import HTTP_400_BAD_REQUEST, HTTP_503_SERVICE_UNAVAILABLE
from litestar.types import ControllerRouterHandler

from switchboard.common.auth import Scope, requires
from switchboard.common.events import CallStatus
from switchboard.history.errors import BadQueryError, StoreUnavailableError
from switchboard.history.repository import TenantHistory
from switchboard.history.schemas import (
    CSV_COLUMNS,
    CallDetail,
    CallFilters,
    CallPage,
    ConversationPage,
    MessagePage,
    Stats,
)

EXPORT_CHUNK_ROWS = 500
Limit = Annotated[int | None, QueryParameter(ge=1, le=10_000, description="Page size.")]
Cursor = Annotated[str | None, QueryParameter(description="next_cursor of the previous page.")]
Since = Annotated[
    datetime | None, QueryParameter(description="From this time (ISO 8601 with zone).")
]
Until = Annotated[
    datetime | None, QueryParameter(description="Before this time (ISO 8601 with zone).")
]


def _time_range(since: datetime | None, until: datetime | None) -> None:
    for name, value in (("since", since), ("until", until)):
        if value is not None and value.tzinfo is None:
            raise ValidationException(f"{name}: give a time zone (e.g. 2026-11-23T00:00:00Z)")
    if since is not None and until is not None and since >= until:
        raise ValidationException("since must be before until")


def call_filters(
    since: Since = None,
    until: Until = None,
    status: FromQuery[CallStatus | None] = None,
    direction: FromQuery[str | None] = None,
    from_number: Annotated[str | None, QueryParameter(name="from")] = None,
    to_number: Annotated[str | None, QueryParameter(name="to")] = None,
    campaign: FromQuery[str | None] = None,
) -> CallFilters:
    """Dependency: the call filters of a request, validated."""
    _time_range(since, until)
    return CallFilters(
        since=since,
        until=until,
        status=status,
        direction=direction,
        from_number=from_number,
        to_number=to_number,
        campaign_id=campaign,
    )


class PageLimits:
    """Page size bounds from the settings."""

    def __init__(self, default: int, maximum: int) -> None:
        self.default, self.maximum = default, maximum

    def __call__(self, limit: int | None) -> int:
        if limit is None:
            return self.default
        if limit > self.maximum:
            raise ValidationException(f"limit: at most {self.maximum}")
        return limit


class CallsController(Controller):
    path = "/v1/calls"
    tags = ["calls"]  # noqa: RUF012 - Litestar reads a class attribute
    guards = [requires(Scope.HISTORY_READ)]  # noqa: RUF012 - Litestar reads a class attribute

    @get("/", summary="List calls, newest first (keyset pages)")
    async def list_calls(
        self,
        history: NamedDependency[TenantHistory],
        filters: NamedDependency[CallFilters],
        page_limits: NamedDependency[PageLimits],
        limit: Limit = None,
        cursor: Cursor = None,
    ) -> CallPage:
        return await history.list_calls(filters, page_limits(limit), cursor)

    @get("/export.csv", summary="Every matching call as CSV (streamed)")
    async def export_csv(
        self, history: NamedDependency[TenantHistory], filters: NamedDependency[CallFilters]
    ) -> Stream:
        rows = history.export_calls(filters)
        # The first chunk is read before the answer starts: a database that is away (or a
        # chunk past its statement timeout) answers 503, not a 200 cut off after the header.
        first = await anext(rows, None)

        async def lines() -> AsyncIterator[bytes]:
            buffer = io.StringIO()
            writer = csv.writer(buffer)
            writer.writerow(CSV_COLUMNS)
            if first is None:
                yield buffer.getvalue().encode()
                return
            writer.writerow(_csv_value(v) for v in first)
            count = 1
            async for row in rows:
                writer.writerow(_csv_value(v) for v in row)
                count += 1
                if count % EXPORT_CHUNK_ROWS == 0:
                    yield buffer.getvalue().encode()
                    buffer.seek(0)
                    buffer.truncate()
            yield buffer.getvalue().encode()

        return Stream(
            lines(),
            media_type="text/csv",  # Litestar adds "; charset=utf-8" to text types
            headers={"content-disposition": 'attachment; filename="calls.csv"'},
        )

    @get("/{call_id:str}", summary="One call with its event timeline")
    async def get_call(
        self, history: NamedDependency[TenantHistory], call_id: FromPath[str]
    ) -> CallDetail:
        call = await history.get_call(call_id)
        if call is None:
            raise NotFoundException(f"no call {call_id}")
        return call


class ConversationsController(Controller):
    path = "/v1/conversations"
    tags = ["conversations"]  # noqa: RUF012 - Litestar reads a class attribute
    guards = [requires(Scope.HISTORY_READ)]  # noqa: RUF012 - Litestar reads a class attribute

    @get("/", summary="List conversations, most recently started first")
    async def list_conversations(
        self,
        history: NamedDependency[TenantHistory],
        page_limits: NamedDependency[PageLimits],
        since: Since = None,
        until: Until = None,
        limit: Limit = None,
        cursor: Cursor = None,
    ) -> ConversationPage:
        _time_range(since, until)
        return await history.list_conversations(since, until, page_limits(limit), cursor)

    @get("/{conversation_id:str}/messages", summary="A conversation's messages, oldest first")
    async def list_messages(
        self,
        history: NamedDependency[TenantHistory],
        page_limits: NamedDependency[PageLimits],
        conversation_id: FromPath[str],
        limit: Limit = None,
        cursor: Cursor = None,
    ) -> MessagePage:
        page = await history.list_messages(conversation_id, page_limits(limit), cursor)
        if page is None:
            raise NotFoundException(f"no conversation {conversation_id}")
        return page


@get(
    "/v1/stats",
    tags=["stats"],
    summary="Counts, answer rate, durations and cost per day",
    guards=[requires(Scope.HISTORY_READ)],
)
async def stats(
    history: NamedDependency[TenantHistory], filters: NamedDependency[CallFilters]
) -> Stats:
    return await history.stats(filters)


def _csv_value(value: object) -> object:
    return value.isoformat() if isinstance(value, datetime) else value


def bad_query(_: Request[Any, Any, Any], exc: BadQueryError) -> Response[dict[str, object]]:
    return Response(
        {"status_code": HTTP_400_BAD_REQUEST, "detail": str(exc)}, status_code=HTTP_400_BAD_REQUEST
    )


def store_unavailable(
    _: Request[Any, Any, Any], exc: StoreUnavailableError
) -> Response[dict[str, object]]:
    return Response(
        {"status_code": HTTP_503_SERVICE_UNAVAILABLE, "detail": "database unavailable"},
        status_code=HTTP_503_SERVICE_UNAVAILABLE,
        headers={"retry-after": "5"},
    )


ROUTES: list[ControllerRouterHandler] = [CallsController, ConversationsController, stats]
