"""Call lifecycles and their status callbacks, verified with the twilio SDK's RequestValidator."""

from email.utils import parsedate_to_datetime

from twilio.request_validator import RequestValidator

ALL_EVENTS = ["initiated", "ringing", "answered", "completed"]
ONLY = {"completed": 0, "busy": 0, "no_answer": 0, "failed": 0}


def outcome(name: str) -> dict[str, float]:
    return {**ONLY, name: 1}


def verify(sim, url: str, request) -> bool:
    return RequestValidator(sim.token).validate(
        url, request.form(), request.headers["x-twilio-signature"]
    )


def test_answered_call_sends_every_requested_event_signed(sim, receiver, wait):
    sim.configure(outcomes=outcome("completed"))
    url = receiver.url + "/status?tenant=acme"
    sid = sim.create_call(StatusCallback=url, StatusCallbackEvent=ALL_EVENTS).json()["sid"]
    wait(lambda: len(receiver.on("status")) == 4)

    got = receiver.on("status")
    assert all(verify(sim, url, r) for r in got)
    forms = sorted((r.form() for r in got), key=lambda f: int(f["SequenceNumber"]))
    assert [f["CallStatus"] for f in forms] == ["initiated", "ringing", "in-progress", "completed"]
    assert [f["SequenceNumber"] for f in forms] == ["0", "1", "2", "3"]
    for form in forms:
        assert form["CallSid"] == sid and form["AccountSid"] == sim.account
        assert form["Direction"] == "outbound-api"
        assert form["CallbackSource"] == "call-progress-events"
        assert form["From"] == "+15005550006" and form["To"] == "+14155550100"
        assert parsedate_to_datetime(form["Timestamp"]).tzinfo is not None
    assert "CallDuration" not in forms[0] and int(forms[-1]["CallDuration"]) >= 1


def test_tampered_callback_does_not_verify(sim, receiver, wait):
    url = receiver.url + "/status"
    sim.create_call(StatusCallback=url)
    wait(lambda: len(receiver.on("status")) == 1)
    request = receiver.on("status")[0]
    form = {**request.form(), "CallStatus": "forged"}
    assert not RequestValidator(sim.token).validate(
        url, form, request.headers["x-twilio-signature"]
    )


def test_only_completed_by_default_and_busy_calls_end_busy(sim, receiver, wait):
    sim.configure(outcomes=outcome("busy"))
    sid = sim.create_call(StatusCallback=receiver.url + "/status").json()["sid"]
    wait(lambda: len(receiver.on("status")) == 1)
    form = receiver.on("status")[0].form()
    assert form["CallStatus"] == "busy" and form["CallDuration"] == "0"
    assert sim.http.get(f"/_sim/calls/{sid}").json()["status"] == "busy"


def test_async_amd_result_is_posted_signed(sim, receiver, wait):
    sim.configure(outcomes={**outcome("completed"), "machine_share": 1.0})
    amd_url = receiver.url + "/amd"
    sid = sim.create_call(
        StatusCallback=receiver.url + "/status",
        MachineDetection="Enable",
        AsyncAmd="true",
        AsyncAmdStatusCallback=amd_url,
    ).json()["sid"]
    wait(lambda: len(receiver.on("amd")) == 1 and len(receiver.on("status")) == 1)
    amd = receiver.on("amd")[0]
    assert verify(sim, amd_url, amd)
    assert amd.form()["CallSid"] == sid and amd.form()["AnsweredBy"] == "machine_start"
    assert receiver.on("status")[0].form()["AnsweredBy"] == "machine_start"


def test_fragment_overrides_retry_on_5xx_and_the_fragment_is_not_sent(sim, receiver, wait):
    receiver.scripts["cb"] = [500, 502]
    sim.create_call(StatusCallback=receiver.url + "/cb#rc=2&rp=5xx&ct=1000")
    wait(lambda: len(receiver.on("cb")) == 3)
    got = receiver.on("cb")
    assert all(verify(sim, receiver.url + "/cb", r) for r in got)
    assert len({r.body for r in got}) == 1  # the same callback, retried
    wait(sim.idle)
    assert sim.stats()["counters"]["webhook.retried"] == 2


def test_without_overrides_a_5xx_is_not_retried(sim, receiver, wait):
    receiver.scripts["cb"] = [500]
    sim.create_call(StatusCallback=receiver.url + "/cb")
    wait(lambda: sim.stats()["counters"].get("webhook.failed") == 1)
    wait(sim.idle)
    assert len(receiver.on("cb")) == 1


def test_same_seed_same_outcomes_but_fresh_sids(start_sim):
    runs, sids = [], set()
    for _ in range(2):
        sim = start_sim(seed=42)
        for _ in range(10):
            sim.create_call()
        sids |= {c["sid"] for c in sim.calls()}
        runs.append([(c["plan"]["outcome"], c["plan"]["talk_s"]) for c in sim.calls()])
    assert runs[0] == runs[1]
    assert len({o for o, _ in runs[0]}) > 1
    assert len(sids) == 20  # ids are never reused, as with the real provider
