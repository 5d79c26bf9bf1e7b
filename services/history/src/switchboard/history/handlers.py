"""One async function per kind of input: decode → rules → store."""

from collections.abc import Sequence

import structlog

from switchboard.common.events import Event
from switchboard.history.models import to_record
from switchboard.history.repository import CallStore

log = structlog.get_logger(__name__)


async def handle_call_events(events: Sequence[Event], store: CallStore, default_tenant: str) -> int:
    """Store a batch of ``call.events``; returns the number of events not seen before."""
    records = [r for r in (to_record(e, default_tenant) for e in events) if r is not None]
    if not records:
        return 0
    stored = await store.record_call_events(records)
    log.info("call events stored", received=len(events), new=stored)
    return stored
