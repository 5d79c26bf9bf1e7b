"""Per-webhook delivery records, the calls scenario and the compact listings a harness reads."""

import time

ALL_EVENTS = ["initiated", "ringing", "answered", "completed"]
ANSWERED = {"completed": 1, "busy": 0, "no_answer": 0, "failed": 0}


def deliveries(sim):
    page = sim.http.get("/_sim/deliveries").json()
    return [dict(zip(page["columns"], row, strict=True)) for row in page["rows"]]


def test_one_record_per_webhook_with_attempts_and_first_acknowledgement(sim, receiver, wait):
    sim.configure(outcomes=ANSWERED, faults={"retries": 3, "duplicate_rate": 1.0})
    receiver.scripts["s"] = [503, 503]  # the first callback is acknowledged at its third try
    before = time.time()
    sid = sim.create_call(StatusCallback=receiver.url + "/s", StatusCallbackEvent=ALL_EVENTS)
    sid = sid.json()["sid"]
    wait(sim.idle)
    records = deliveries(sim)
    assert [r["key"] for r in records] == [
        f"{sid}:initiated:0",
        f"{sid}:ringing:1",
        f"{sid}:in-progress:2",
        f"{sid}:completed:3",
    ]
    assert {r["kind"] for r in records} == {"twilio.call.status"}
    first = records[0]
    assert first["attempts"] == 4  # 503, 503, 204, and the duplicate
    assert (first["status"], first["refused"], first["unanswered"]) == (204, 2, 0)
    assert before <= first["first_sent"] < first["acked"] <= time.time()
    assert all(r["attempts"] == 2 and r["acked"] is not None for r in records[1:])


def test_a_webhook_never_answered_is_recorded_unacknowledged(sim, receiver, wait):
    sim.configure(outcomes=ANSWERED)
    receiver.default = 500
    sim.create_call(StatusCallback=receiver.url + "/s")
    wait(sim.idle)
    [record] = deliveries(sim)
    assert record["acked"] is None and record["status"] == 500 and record["attempts"] == 1
    assert record["refused"] == 1
    page = sim.http.get("/_sim/deliveries", params={"offset": 1}).json()
    assert page["total"] == 1 and page["rows"] == []


def test_calls_scenario_creates_calls_at_a_rate_with_distinct_numbers(sim, receiver, wait):
    sim.configure(outcomes=ANSWERED)
    started = sim.http.post(
        "/_sim/scenarios/twilio-calls",
        json={"count": 20, "rate": 100, "status_callback": receiver.url + "/s", "first_number": 5},
    )
    assert started.status_code == 202
    name = started.json()["scenario"]
    wait(lambda: sim.http.get("/_sim/scenarios").json()[name] == "done")
    wait(sim.idle)
    compact = sim.http.get("/_sim/calls/compact", params={"account_sid": sim.account}).json()
    rows = [dict(zip(compact["columns"], row, strict=True)) for row in compact["rows"]]
    assert sorted(r["to"] for r in rows) == [f"+1777{n:07d}" for n in range(5, 25)]
    assert all(r["status"] == "completed" and r["ended_at"] >= r["created_at"] for r in rows)
    assert len(receiver.on("s")) == 80  # every status callback of the 20 calls
    none = sim.http.get("/_sim/calls/compact", params={"account_sid": "ACnone"}).json()
    assert none["rows"] == []


def test_a_webhook_nobody_answers_counts_as_unanswered(sim, wait):
    sim.configure(outcomes={"completed": 0, "busy": 0, "no_answer": 0, "failed": 1})
    sim.create_call(StatusCallback="http://127.0.0.1:9/nobody")  # discard port: refused
    wait(sim.idle)
    [record] = deliveries(sim)
    assert (record["acked"], record["status"], record["unanswered"]) == (None, None, 2)


def test_calls_scenario_refuses_an_unknown_account(sim):
    refused = sim.http.post(
        "/_sim/scenarios/twilio-calls",
        json={"count": 1, "status_callback": "http://x.invalid/", "account_sid": "ACnope"},
    )
    assert refused.status_code == 400


def test_calls_summary_per_account(start_sim):
    other = "AC" + "6" * 32
    sim = start_sim(
        twilio_accounts={
            "AC" + "5" * 32: {"auth_token": "sim-test-token", "cps": 1000},
            other: {"auth_token": "t2", "cps": 1000},
        }
    )
    assert sim.create_call(To="+14155550101").status_code == 201
    assert sim.create_call(To="+14155550101").status_code == 201
    assert sim.http.get("/_sim/calls/summary").json()["repeated_numbers"] == 1
    mine = sim.http.get("/_sim/calls/summary", params={"account_sid": other}).json()
    assert (mine["calls"], mine["repeated_numbers"]) == (0, 0)


def test_webhook_bodies_can_be_left_out_of_the_log(sim, receiver, wait):
    sim.configure(outcomes=ANSWERED, log_webhooks=False)
    sim.create_call(StatusCallback=receiver.url + "/s")
    wait(sim.idle)
    assert sim.log("webhook.delivered") == []
    assert len(deliveries(sim)) == 1
