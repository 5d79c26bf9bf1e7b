from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from switchboard.history.messages import merge_message, to_message


def rows(events):
    return [to_message(e, "dflt") for e in events]


def fold(rs):
    out = rs[0]
    for r in rs[1:]:
        out = merge_message(out, r)
    return out


def test_status_never_moves_backwards(ev) -> None:
    row = fold(rows([ev.sent(), ev.status("read"), ev.status("delivered"), ev.status("sent")]))
    assert (row.status, row.text, row.model) == ("read", "hi there", "gpt-test")


def test_failed_is_terminal_and_keeps_its_error(ev) -> None:
    row = fold(rows([ev.status("failed"), ev.status("delivered")]))
    assert (row.status, row.error_code) == ("failed", "131026")


def test_inbound_message_row(ev) -> None:
    row = to_message(ev.inbound(tenant=None), "dflt")
    assert (row.tenant_id, row.direction, row.conversation_id, row.text) == (
        "dflt",
        "inbound",
        "PN1:+1555",
        "hello",
    )


def test_call_events_are_not_messages(ev) -> None:
    assert to_message(ev.call("ringing", 1), "dflt") is None


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_any_order_with_duplicates_merges_to_the_same_row(ev, data) -> None:
    pool = [ev.sent(), *(ev.status(s) for s in ("queued", "sent", "delivered", "read", "failed"))]
    chosen = data.draw(st.lists(st.sampled_from(pool), min_size=1, unique_by=lambda e: e.id))
    dupes = data.draw(st.lists(st.sampled_from(chosen), max_size=4))
    order = data.draw(st.permutations(chosen + dupes))
    assert fold(rows(order)) == fold(rows(chosen))
