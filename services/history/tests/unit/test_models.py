from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from switchboard.common.events import CallStatus
from switchboard.history.models import TERMINAL_RANK, fold_call, status_rank, to_fact

STATUSES = ["queued", "initiated", "ringing", "in-progress", "completed", "busy", "no-answer"]


def test_live_statuses_rank_by_progress_and_terminals_outrank_them() -> None:
    live = [CallStatus.QUEUED, CallStatus.INITIATED, CallStatus.RINGING, CallStatus.IN_PROGRESS]
    assert [status_rank(s) for s in live] == sorted(status_rank(s) for s in live)
    assert len({status_rank(s) for s in live}) == len(live)
    for s in CallStatus:
        if s.is_terminal:
            assert status_rank(s) == TERMINAL_RANK > max(status_rank(x) for x in live)


def test_fact_takes_tenant_from_event_or_default(ev) -> None:
    assert to_fact(ev.call("ringing", 1, tenant="acme"), "dflt").tenant_id == "acme"
    assert to_fact(ev.call("ringing", 1, tenant=None), "dflt").tenant_id == "dflt"


def test_message_events_are_not_call_facts(ev) -> None:
    assert to_fact(ev.inbound(), "dflt") is None


def facts(events):
    return [to_fact(e, "dflt") for e in events]


def test_terminal_status_never_reverts(ev) -> None:
    row = fold_call(facts([ev.call("completed", 3, duration=9), ev.call("ringing", 9)]))
    assert (row.status, row.duration_s, row.status_rank) == ("completed", 9, TERMINAL_RANK)
    assert row.ended_at == ev.call("completed", 3).data.occurred_at


def test_sequence_number_orders_equal_ranks(ev) -> None:
    row = fold_call(facts([ev.call("busy", 7), ev.call("completed", 4)]))
    assert (row.status, row.sequence_number) == ("busy", 7)


def test_amd_sets_answered_by_and_report_links_to_the_telephony_call(ev) -> None:
    report = to_fact(ev.report(call_id="vapi-9", telephony="CA1"), "dflt")
    assert report.call_id == "CA1"
    row = fold_call(
        [*facts([ev.call("in-progress", 2), ev.amd(answered_by="machine_start")]), report]
    )
    assert row.answered_by == "machine_start"
    assert (row.cost, row.summary, row.agent_call_id, row.ended_reason) == (
        0.25,
        "booked a table",
        "vapi-9",
        "customer-ended-call",
    )
    assert row.status == "completed"  # the report says the call ended
    assert row.provider == "twilio"  # the telephony leg's own callbacks name the provider


def test_report_without_telephony_leg_is_its_own_call(ev) -> None:
    fact = to_fact(ev.report(call_id="vapi-2", telephony=None), "dflt")
    assert fact.call_id == "vapi-2"
    assert fold_call([fact]).provider == "vapi"


def test_dialer_events_carry_campaign_and_failures_become_failed_calls(ev) -> None:
    row = fold_call(facts([ev.placed(), ev.call("ringing", 1)]))
    assert (row.campaign_id, row.attempt_number, row.to_number, row.status) == (
        "camp-1",
        1,
        "+1600",
        "ringing",
    )
    failed = to_fact(ev.place_failed("att-9"), "dflt")
    assert failed.call_id == "attempt:att-9"
    row = fold_call([failed])
    assert (row.status, row.error_code, row.status_rank) == ("failed", "21215", TERMINAL_RANK)


def all_events(ev):
    return [
        *(ev.call(s, i) for i, s in enumerate(STATUSES)),
        ev.call("ringing", 1, to_number="+1999"),  # another ringing with a different id
        ev.call("completed", None, duration=12),
        ev.amd(),
        ev.report(),
        ev.placed(),
    ]


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_any_permutation_with_duplicates_gives_the_same_row(ev, data) -> None:
    pool = all_events(ev)
    chosen = data.draw(st.lists(st.sampled_from(pool), min_size=1, unique_by=lambda e: e.id))
    dupes = data.draw(st.lists(st.sampled_from(chosen), max_size=6))
    order = data.draw(st.permutations(chosen + dupes))
    canonical = fold_call(facts(chosen))
    assert fold_call(facts(order)) == canonical
    # and applied one by one, as a store sees them over time
    seen: dict[str, object] = {}
    row = None
    for e in order:
        seen[e.id] = e
        row = fold_call(facts(seen.values()))
    assert row == canonical
    if any(CallStatus(e.data.status).is_terminal for e in chosen if hasattr(e.data, "status")):
        assert canonical.status_rank == TERMINAL_RANK
