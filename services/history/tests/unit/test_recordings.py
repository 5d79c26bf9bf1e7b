"""Recording rows from events: a final status outranks in-progress, in any order."""

from datetime import UTC, datetime

from switchboard.common.events import CallRecordingStatus, Event
from switchboard.history.handlers import handle_call_events
from switchboard.history.recordings import recording_rank, to_recording

from ..fakes import InMemoryStore

AT = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def recording(status: str, url: str | None = None, tenant: str | None = "acme") -> Event:
    data = CallRecordingStatus(
        call_id="CA1", recording_id="RE1", status=status, url=url, occurred_at=AT
    )
    return Event(id=f"rec-{status}", source="/test", data=data, tenant=tenant)


def test_final_statuses_outrank_in_progress() -> None:
    assert recording_rank("completed") > recording_rank("in-progress")
    assert recording_rank("failed") == recording_rank("absent") == recording_rank("completed")


def test_other_events_are_no_recording_and_the_tenant_defaults() -> None:
    row = to_recording(recording("completed", tenant=None), "dflt")
    assert row is not None and row.tenant_id == "dflt"


async def test_late_in_progress_does_not_undo_completed() -> None:
    store = InMemoryStore()
    await handle_call_events([recording("completed", "https://r/RE1")], store, "dflt")
    await handle_call_events([recording("in-progress")], store, "dflt")
    assert store.recordings["RE1"].status == "completed"
    assert store.recordings["RE1"].url == "https://r/RE1"
    # the recording event joins its call's timeline too
    assert {f.event_type for f in store.by_call["CA1"]} == {"switchboard.call.recording.v1"}
