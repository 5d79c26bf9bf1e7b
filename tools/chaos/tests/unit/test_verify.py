"""The verdict from hand-made evidence: each zero counts what it says, nothing else."""

from switchboard.chaos.collect import Delivery, Evidence, SimCall
from switchboard.chaos.faults import FaultRun
from switchboard.chaos.poison import PoisonResult
from switchboard.chaos.schedule import Fault, Kind
from switchboard.chaos.verify import Latency, verify
from switchboard.chaos.wiring import DIALER_ACCOUNT, TRAFFIC_ACCOUNT

T = 1_800_000_000.0


def status(sid, seq, sent, acked=True, kind="twilio.call.status", st="ringing"):
    return Delivery(kind, f"{sid}:{st}:{seq}", sent, sent + 0.01 if acked else None, 1, 204)


def call(sid, status="completed", account=TRAFFIC_ACCOUNT, to="+17770000001", **kw):
    return SimCall(sid, account, to, status, kw.get("created", T), kw.get("ended", T + 1), False)


def base() -> Evidence:
    e = Evidence()
    e.deliveries = [status("CA1", 0, T), status("CA1", 1, T + 1, st="completed")]
    e.calls = [call("CA1")]
    e.call_events = {("CA1", 0): T + 0.2, ("CA1", 1): T + 1.3}
    e.call_rows = {"CA1": ("completed", 4)}
    e.duplicates = {"history calls": 0}
    return e


def test_a_clean_run_has_no_failure_and_measures_latency():
    r = verify(base(), [], window_tail_s=10)
    assert r.failures() == []
    assert (r.events, r.acknowledged, r.acknowledged_not_stored) == (2, 2, 0)
    assert r.latency_outside == Latency(2, 250.0, 295.0, 299.0)
    assert r.latency_inside.count == 0


def test_acknowledged_but_not_stored_counts_only_acknowledged_events():
    e = base()
    e.deliveries += [status("CA2", 0, T), status("CA3", 0, T, acked=False)]
    e.calls += [call("CA2"), call("CA3")]
    e.call_rows.update({"CA2": ("completed", 4), "CA3": ("completed", 4)})
    r = verify(e, [], window_tail_s=10)
    assert r.acknowledged_not_stored == 1 and r.unacknowledged == 1
    assert r.not_stored_samples == ["twilio.call.status CA2:ringing:0"]
    assert "acknowledged but not stored: 1" in r.failures()


def test_whatsapp_batches_count_each_message_and_statuses_need_the_row_to_reach_them():
    e = base()
    e.deliveries += [
        Delivery("whatsapp.messages", "wamid.a,wamid.b", T, T + 0.1, 1, 200),
        Delivery("whatsapp.statuses", "wamid.r:read", T, T + 0.1, 1, 200),
        Delivery("whatsapp.statuses", "wamid.r:delivered", T, T + 0.1, 1, 200),
    ]
    e.messages = {"wamid.a": (None, T + 0.5), "wamid.r": ("delivered", T)}
    r = verify(e, [], window_tail_s=10)
    assert r.events == 2 + 2 + 2
    assert r.acknowledged_not_stored == 2  # wamid.b missing, wamid.r never reached read
    assert sorted(r.not_stored_samples) == [
        "whatsapp.messages wamid.b",
        "whatsapp.statuses wamid.r:read",
    ]


def test_latency_inside_a_fault_window_and_its_recovery():
    e = base()
    e.deliveries.append(status("CA9", 0, T + 50))  # sent during the fault, stored late
    e.calls.append(call("CA9", created=T + 50))
    e.call_events[("CA9", 0)] = T + 70
    e.call_rows["CA9"] = ("completed", 4)
    run = FaultRun(Fault(Kind.KILL, "history", 1, at_s=40), started=T + 40, lifted=T + 60)
    run.ready_s = 3.0
    r = verify(e, [run], window_tail_s=10)
    assert r.latency_inside.count == 1 and r.latency_inside.p50_ms == 20_000
    [rec] = r.faults
    assert (rec.name, rec.ready_s, rec.caught_up_s, rec.not_stored) == (
        "kill history",
        3.0,
        10.0,
        0,
    )


def test_double_dials_double_replies_and_unanswered_customers():
    e = base()
    e.calls += [
        call("CAd1", account=DIALER_ACCOUNT, to="+16462000001"),
        call("CAd2", account=DIALER_ACCOUNT, to="+16462000001"),
        call("CAd3", account=DIALER_ACCOUNT, to="+16462000002"),
    ]
    for sid in ("CAd1", "CAd2", "CAd3"):
        e.call_rows[sid] = ("completed", 4)
    e.deliveries.append(Delivery("whatsapp.messages", "wamid.x,wamid.y,wamid.z", T, T, 1, 200))
    e.messages = {w: (None, T) for w in ("wamid.x", "wamid.y", "wamid.z")}
    e.inbound = {"wamid.x": "c1", "wamid.y": "c2", "wamid.z": "c3"}
    e.replies = {"c1": [T + 1], "c2": [T + 1, T + 2]}
    r = verify(e, [], window_tail_s=10)
    assert (r.dials, r.numbers_dialled_twice) == (3, 1)
    assert r.customers_answered_twice == 1 and r.answered_twice_samples == ["c2 x2"]
    assert r.acknowledged_never_answered == 1 and r.never_answered_samples == ["wamid.z"]


def test_calls_left_open_missing_or_in_another_final_state():
    e = base()
    e.deliveries += [status("CAopen", 0, T), status("CAmiss", 0, T)]
    e.calls += [call("CAopen"), call("CAmiss"), call("CAwrong", "busy"), call("CAlive", ended=None)]
    e.call_rows.update({"CAopen": ("ringing", 2), "CAwrong": ("completed", 4)})
    e.call_events.update({("CAopen", 0): T, ("CAmiss", 0): T})
    r = verify(e, [], window_tail_s=10)
    assert (r.calls_open, r.calls_missing, r.calls_wrong_final, r.calls_still_live) == (1, 1, 1, 1)
    assert r.open_samples == ["CAopen ringing (simulator: completed)"]
    # before the reconciler's grace an open call is not (yet) a failure
    assert verify(e, [], window_tail_s=10, grace_ok=False).calls_open == 0


def test_poison_markers_and_failed_faults_are_failures():
    run = FaultRun(Fault(Kind.POISON), started=T, lifted=T + 1)
    run.poison = [
        PoisonResult("call.events", "undecodable", "CAm", None, None),
        PoisonResult("message.status", "oversized", "wamid.m", 0.4, 0.6),
    ]
    broken = FaultRun(Fault(Kind.RESTART, "redis", 10), started=T, lifted=T, error="boom")
    r = verify(base(), [run, broken], window_tail_s=10)
    assert "poison markers late or lost: 1" in r.failures()
    assert "faults that failed: 1" in r.failures()
