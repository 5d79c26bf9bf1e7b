"""The reconciler: calls that started but never reported an end get their final state from
the provider's REST API, published as the missing ``switchboard.call.status.v1`` event to
``call.events`` — so it is stored by the same path as any callback.

The event id is deterministic (provider, call, status), so two reconcilers, or a reconciler
and the real late callback, never make two rows; a real callback with a sequence number
outranks the reconciled one (which has none) at equal rank.
"""

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

import structlog

from switchboard.common.errors import RetryableError
from switchboard.common.events import CallStatusChanged, Event, event_id
from switchboard.history.adapters.providers import ProviderClient
from switchboard.history.settings import ReconcileSettings

log = structlog.get_logger(__name__)
SOURCE = "/switchboard/history/reconciler"


@dataclass(frozen=True, slots=True)
class OpenCall:
    """A call without a terminal status."""

    call_id: str
    tenant_id: str
    provider: str
    account_id: str | None
    status: str
    last_event_at: datetime


class OpenCalls(Protocol):
    async def open_calls(
        self,
        silent_since: datetime,
        seen_after: datetime,
        limit: int,
        after: tuple[datetime, str] | None = None,
    ) -> Sequence[OpenCall]:
        """Calls first seen after ``seen_after``, without news since ``silent_since``, in
        ``(last_event_at, call_id)`` order, after ``after`` when given."""
        ...


Publish = Callable[[Event, str], Awaitable[None]]


class Reconciler:
    def __init__(
        self,
        calls: OpenCalls,
        provider: ProviderClient,
        publish: Publish,
        settings: ReconcileSettings,
        clock: Callable[[], datetime],
    ) -> None:
        self._calls = calls
        self._provider = provider
        self._publish = publish
        self._settings = settings
        self._clock = clock
        # Where the last round stopped: calls the provider cannot resolve (unknown account,
        # 404) stay open, and must not take every round's places from the ones behind them.
        self._after: tuple[datetime, str] | None = None

    async def run_once(self) -> int:
        """One round; returns how many events were published."""
        now = self._clock()
        limit = self._settings.batch_limit
        stale = await self._calls.open_calls(
            now - timedelta(seconds=self._settings.grace_s),
            now - timedelta(days=self._settings.lookback_days),
            limit,
            self._after,
        )
        self._after = (stale[-1].last_event_at, stale[-1].call_id) if len(stale) >= limit else None
        published = 0
        for call in stale:
            try:
                state = await self._provider.fetch(call.provider, call.call_id, call.account_id)
            except RetryableError as exc:
                log.warning(
                    "provider lookup failed; next round", call_id=call.call_id, error=str(exc)
                )
                continue
            if state is None or not state["status"].is_terminal:
                continue
            data = CallStatusChanged(
                provider=call.provider,
                call_id=call.call_id,
                account_id=call.account_id,
                occurred_at=state.get("occurred_at") or now,
                raw={"reconciled": "true"},
                **{k: v for k, v in state.items() if k != "occurred_at"},
            )
            event = Event(
                id=event_id("reconcile", call.provider, call.call_id, data.status.value),
                source=SOURCE,
                data=data,
                subject=call.call_id,
                tenant=call.tenant_id,
            )
            await self._publish(event, call.call_id)
            published += 1
            log.info("call reconciled", call_id=call.call_id, status=data.status.value)
        return published

    async def run_forever(self) -> None:
        while True:
            try:
                await self.run_once()
            except RetryableError as exc:
                log.warning("reconcile round failed", error=str(exc))
            await asyncio.sleep(self._settings.interval_s)
