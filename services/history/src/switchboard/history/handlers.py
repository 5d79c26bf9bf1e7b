"""One async function per kind of input: events → records (pure rules) → store."""

from collections.abc import Callable, Sequence
from typing import TypeVar

import structlog
from prometheus_client import Counter

from switchboard.common.events import Event
from switchboard.common.log_summary import PeriodicSummary
from switchboard.history.messages import to_message
from switchboard.history.models import to_fact
from switchboard.history.recordings import to_recording
from switchboard.history.repository import HistoryStore

log = structlog.get_logger(__name__)
_Row = TypeVar("_Row")
STORED = Counter(
    "switchboard_history_events_total",
    "Events received by the history worker, by kind and outcome.",
    ["kind", "outcome"],
)
# One INFO line a minute per kind; each batch at DEBUG.
CALLS_SUMMARY = PeriodicSummary(log, "call events stored (summary)")
MESSAGES_SUMMARY = PeriodicSummary(log, "message events stored (summary)")


def _mapped(
    events: Sequence[Event],
    to_row: Callable[[Event, str], _Row | None],
    default_tenant: str,
    kind: str,
    topics: str,
) -> list[_Row]:
    """The rows of the events the service stores; the others counted and logged."""
    rows = []
    for event in events:
        row = to_row(event, default_tenant)
        if row is None:
            STORED.labels(kind, "skipped").inc()
            log.warning(f"event type not stored from {topics}", type=event.type, id=event.id)
        else:
            rows.append(row)
    return rows


async def handle_call_events(
    events: Sequence[Event], store: HistoryStore, default_tenant: str
) -> int:
    """Store a batch of ``call.events``; returns the number of events not seen before."""
    recordings = [r for e in events if (r := to_recording(e, default_tenant)) is not None]
    if recordings:  # an idempotent upsert: a redelivered batch converges to the same rows
        await store.record_recordings(recordings)
    facts = _mapped(events, to_fact, default_tenant, "call", "call.events")
    if not facts:
        return 0
    stored = await store.record_call_facts(facts)
    STORED.labels("call", "new").inc(stored)
    STORED.labels("call", "seen_or_expired").inc(len(facts) - stored)
    log.debug("call events stored", received=len(events), new=stored)
    CALLS_SUMMARY.add(received=len(events), new=stored)
    return stored


async def handle_message_events(
    events: Sequence[Event], store: HistoryStore, default_tenant: str
) -> int:
    """Store a batch from ``message.*``; returns the number of messages touched."""
    rows = _mapped(events, to_message, default_tenant, "message", "message topics")
    if not rows:
        return 0
    stored = await store.record_messages(rows)
    STORED.labels("message", "stored").inc(len(rows))
    log.debug("message events stored", received=len(events), messages=stored)
    MESSAGES_SUMMARY.add(received=len(events), messages=stored)
    return stored
