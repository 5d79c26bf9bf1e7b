"""Delivery faults do what they say: duplicates, out of order, dropped final, retries."""

ALL_EVENTS = ["initiated", "ringing", "answered", "completed"]
ANSWERED = {"completed": 1, "busy": 0, "no_answer": 0, "failed": 0}


def test_duplicates_send_every_callback_twice(sim, receiver, wait):
    sim.configure(outcomes=ANSWERED, faults={"duplicate_rate": 1.0})
    sim.create_call(StatusCallback=receiver.url + "/s", StatusCallbackEvent=ALL_EVENTS)
    wait(lambda: len(receiver.on("s")) == 8)
    wait(sim.idle)
    bodies = [r.body for r in receiver.on("s")]
    assert len(set(bodies)) == 4 and all(bodies.count(b) == 2 for b in bodies)
    assert sim.stats()["counters"]["webhook.duplicated"] == 4


def test_out_of_order_delivers_a_calls_callbacks_shuffled(sim, receiver, wait):
    sim.configure(outcomes=ANSWERED, faults={"out_of_order_rate": 1.0})
    sim.create_call(StatusCallback=receiver.url + "/s", StatusCallbackEvent=ALL_EVENTS)
    wait(lambda: len(receiver.on("s")) == 4)
    sequence = [int(r.form()["SequenceNumber"]) for r in receiver.on("s")]
    assert sorted(sequence) == [0, 1, 2, 3]
    assert sequence != [0, 1, 2, 3]


def test_dropped_final_callback_leaves_the_state_fetchable(sim, receiver, wait):
    sim.configure(outcomes=ANSWERED, faults={"drop_final_rate": 1.0})
    sid = sim.create_call(StatusCallback=receiver.url + "/s", StatusCallbackEvent=ALL_EVENTS)
    sid = sid.json()["sid"]
    wait(sim.idle)
    statuses = [r.form()["CallStatus"] for r in receiver.on("s")]
    assert statuses == ["initiated", "ringing", "in-progress"]
    fetched = sim.http.get(
        f"/2010-04-01/Accounts/{sim.account}/Calls/{sid}.json", auth=(sim.account, sim.token)
    ).json()
    assert fetched["status"] == "completed" and int(fetched["duration"]) >= 1
    assert [e["key"] for e in sim.log("webhook.dropped")] == [f"{sid}:completed:3"]


def test_retries_after_non_2xx_answers(sim, receiver, wait):
    sim.configure(outcomes=ANSWERED, faults={"retries": 3})
    receiver.scripts["s"] = [500, 404, 503]
    sim.create_call(StatusCallback=receiver.url + "/s")
    wait(lambda: len(receiver.on("s")) == 4)
    wait(sim.idle)
    assert len({r.body for r in receiver.on("s")}) == 1
    counters = sim.stats()["counters"]
    assert counters["webhook.retried"] == 3 and counters["twilio.call.status.acknowledged"] == 1


def test_delay_and_reset(sim, receiver, wait):
    sim.configure(faults={"delay_ms": 50})
    sim.create_call(StatusCallback=receiver.url + "/s")
    wait(lambda: len(receiver.on("s")) == 1)
    assert sim.http.post("/_sim/reset").json() == {"reset": True}
    assert sim.calls() == [] and sim.stats()["counters"] == {}
    assert sim.http.get("/_sim/config").json()["faults"]["delay_ms"] == 50
