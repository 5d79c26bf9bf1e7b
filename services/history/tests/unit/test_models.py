from switchboard.common.events import CallStatus
from switchboard.history.models import TERMINAL_RANK, status_rank, to_record


def test_live_statuses_rank_by_progress_and_terminals_outrank_them() -> None:
    live = [CallStatus.QUEUED, CallStatus.INITIATED, CallStatus.RINGING, CallStatus.IN_PROGRESS]
    assert [status_rank(s) for s in live] == sorted(status_rank(s) for s in live)
    assert len({status_rank(s) for s in live}) == len(live)
    for s in CallStatus:
        if s.is_terminal:
            assert status_rank(s) == TERMINAL_RANK > max(status_rank(x) for x in live)


def test_record_takes_tenant_from_event_or_default(make_event) -> None:
    assert to_record(make_event("ringing", 1, tenant="acme"), "dflt").tenant_id == "acme"
    assert to_record(make_event("ringing", 1, tenant=None), "dflt").tenant_id == "dflt"
