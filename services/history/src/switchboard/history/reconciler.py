"""The reconciler: calls that started but never reported an end get their final state from
the provider's REST API, published as the missing ``switchboard.call.status.v1`` event to
``call.events`` — so it is stored by the same path as any callback.

The event id is deterministic (provider, call, status), so two reconcilers, or a reconciler
and the real late callback, never make two rows; a real callback with a sequence number
outranks the reconciled one (which has none) at equal rank.

ElevenLabs reports a conversation only once, when it has ended (the post-call webhook), so no
open row ever points at a lost one: each round lists every configured workspace's recent
conversations instead, and for each ended one history has no report of, fetches it and
publishes the ``switchboard.call.report.v1`` the webhook would have produced — under the
ingress's event id for that webhook, so the late webhook and the reconciled report are one
event whichever is stored first.
"""

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

import structlog
from prometheus_client import Counter, Gauge

from switchboard.common.errors import RetryableError
from switchboard.common.events import CallStatusChanged, Event, event_id
from switchboard.common.metrics import start_at_zero
from switchboard.history.credentials import ProviderCredentials, Workspace
from switchboard.history.repository import OpenCalls, ProviderLookup
from switchboard.history.settings import ReconcileSettings

log = structlog.get_logger(__name__)
SOURCE = "/switchboard/history/reconciler"

BACKLOG = Gauge(
    "switchboard_history_reconcile_backlog",
    "Open calls past the grace period found by the last round (at most the batch limit).",
)
RECONCILED = Counter(
    "switchboard_history_reconciled_total",
    "Missing endings and reports filled in from the providers, by provider.",
    ["provider"],
)
# Known label values exist at 0 from the start (see common.metrics).
start_at_zero(RECONCILED, [("twilio",), ("vapi",), ("elevenlabs",)])


Publish = Callable[[Event, str], Awaitable[None]]


class Reconciler:
    def __init__(
        self,
        calls: OpenCalls,
        provider: ProviderLookup,
        publish: Publish,
        settings: ReconcileSettings,
        clock: Callable[[], datetime],
        credentials: ProviderCredentials,
    ) -> None:
        """``credentials``: the ElevenLabs workspaces to sweep and whose their conversations
        are (the calls' own lookups go through ``provider``)."""
        self._credentials = credentials
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
        BACKLOG.set(len(stale))
        published = 0
        for call in stale:
            try:
                state = await self._provider.fetch(
                    call.provider, call.call_id, call.account_id, call.tenant_id
                )
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
            RECONCILED.labels(call.provider).inc()
            published += 1
            log.info("call reconciled", call_id=call.call_id, status=data.status.value)
        for workspace in self._credentials.elevenlabs_workspaces():
            try:
                published += await self._elevenlabs(workspace, now)
            except RetryableError as exc:
                log.warning(
                    "ElevenLabs sweep failed; next round",
                    workspace=workspace.account_id,
                    error=str(exc),
                )
        return published

    async def _elevenlabs(self, workspace: Workspace, now: datetime) -> int:
        """Reports of one workspace's ended conversations that history lacks; at most
        ``batch_limit`` fetched per round. Each is stored under its agent's tenant."""
        api_key = workspace.api_key
        since = now - timedelta(days=self._settings.lookback_days)
        quiet_since = now - timedelta(seconds=self._settings.grace_s)
        fetched = published = 0
        async with contextlib.aclosing(
            self._provider.elevenlabs_conversations(api_key, since, now)
        ) as pages:
            async for page in pages:
                due = [
                    c.conversation_id
                    for c in page
                    if c.ended
                    and (
                        c.start_time is None
                        or c.start_time + timedelta(seconds=c.duration_s or 0) <= quiet_since
                    )
                ]
                if not due:
                    continue
                # a report can land on a call first seen a little before its conversation started
                known = await self._calls.reported_conversations(due, since - timedelta(days=1))
                for conversation_id in due:
                    if conversation_id in known:
                        continue
                    if fetched >= self._settings.batch_limit:
                        return published
                    fetched += 1
                    try:
                        report = await self._provider.elevenlabs_report(
                            api_key, conversation_id, now
                        )
                    except RetryableError as exc:
                        log.warning(
                            "conversation lookup failed; next round",
                            conversation_id=conversation_id,
                            error=str(exc),
                        )
                        continue
                    if report is None:
                        continue
                    tenant = self._credentials.conversation_tenant(workspace, report.agent_id)
                    if tenant is None:
                        log.warning(
                            "reconciled conversation of an agent no tenant owns; not stored",
                            conversation_id=conversation_id,
                            agent_id=report.agent_id,
                        )
                        continue
                    event = Event(
                        # the ingress's id for this webhook: one event, whichever comes first
                        id=event_id("elevenlabs", conversation_id, "post_call_transcription"),
                        source=SOURCE,
                        data=report,
                        subject=conversation_id,
                        tenant=tenant,
                    )
                    await self._publish(event, conversation_id)
                    RECONCILED.labels("elevenlabs").inc()
                    published += 1
                    log.info(
                        "conversation reconciled",
                        conversation_id=conversation_id,
                        status=report.status.value,
                    )
        return published

    async def run_forever(self) -> None:
        while True:
            try:
                await self.run_once()
            except RetryableError as exc:
                log.warning("reconcile round failed", error=str(exc))
            await asyncio.sleep(self._settings.interval_s)
