"""Twilio recordings (Record=true → a recording, its signed status callback, list, delete)
and AMD outcomes chosen per number, with a live call updated to play a voicemail."""

from twilio.request_validator import RequestValidator

ONLY_COMPLETED = {"completed": 1, "busy": 0, "no_answer": 0, "failed": 0}


def test_recorded_call_gets_a_recording_listed_signed_and_deletable(sim, receiver, wait):
    sim.configure(outcomes=ONLY_COMPLETED)
    url = receiver.url + "/recording"
    sid = sim.create_call(Record="true", RecordingStatusCallback=url).json()["sid"]
    wait(lambda: len(receiver.on("recording")) == 1)
    request = receiver.on("recording")[0]
    form = request.form()
    assert RequestValidator(sim.token).validate(url, form, request.headers["x-twilio-signature"])
    assert form["CallSid"] == sid and form["RecordingStatus"] == "completed"
    assert form["RecordingSid"].startswith("RE") and int(form["RecordingDuration"]) >= 1

    base = f"/2010-04-01/Accounts/{sim.account}/Recordings"
    auth = (sim.account, sim.token)
    listed = sim.http.get(f"{base}.json", params={"CallSid": sid}, auth=auth).json()
    assert [r["sid"] for r in listed["recordings"]] == [form["RecordingSid"]]
    assert sim.http.delete(f"{base}/{form['RecordingSid']}.json", auth=auth).status_code == 204
    assert sim.http.get(f"{base}/{form['RecordingSid']}.json", auth=auth).status_code == 404
    assert sim.http.get(f"{base}.json", auth=auth).json()["recordings"] == []


def test_unrecorded_call_has_no_recording(sim, receiver, wait):
    sim.configure(outcomes=ONLY_COMPLETED)
    sim.create_call(StatusCallback=receiver.url + "/status")
    wait(lambda: len(receiver.on("status")) == 1)
    assert sim.state.recordings == {}


def test_amd_outcome_per_number_and_voicemail_update_ends_the_call(sim, receiver, wait):
    sim.configure(
        outcomes={
            **ONLY_COMPLETED,
            "talk_mean_s": 1e6,
            "talk_max_s": 1e6,
            "answered_by": {"+14155550101": "machine_end_silence", "+14155550102": "human"},
        }
    )
    common = {
        "MachineDetection": "DetectMessageEnd",
        "AsyncAmd": "true",
        "AsyncAmdStatusCallback": receiver.url + "/amd",
    }
    machine = sim.create_call(To="+14155550101", **common).json()["sid"]
    human = sim.create_call(To="+14155550102", **common).json()["sid"]
    wait(lambda: len(receiver.on("amd")) == 2)
    verdicts = {r.form()["CallSid"]: r.form()["AnsweredBy"] for r in receiver.on("amd")}
    assert verdicts == {machine: "machine_end_silence", human: "human"}

    twiml = "<Response><Say>Please call us back.</Say><Hangup/></Response>"
    path = f"/2010-04-01/Accounts/{sim.account}/Calls/{machine}.json"
    answer = sim.http.post(path, data={"Twiml": twiml}, auth=(sim.account, sim.token))
    assert answer.status_code == 200, answer.text
    wait(lambda: sim.http.get(f"/_sim/calls/{machine}").json()["status"] == "completed")
    assert sim.state.calls[machine].twiml_updates == [twiml]
    assert sim.state.calls[human].twiml_updates == []
    assert sim.state.calls[human].status == "in-progress"


def test_machine_end_weights_choose_the_verdict(sim, receiver, wait):
    sim.configure(
        outcomes={
            **ONLY_COMPLETED,
            "machine_share": 1.0,
            "machine_ends": {"machine_end_other": 1.0},
        }
    )
    sim.create_call(
        MachineDetection="DetectMessageEnd",
        AsyncAmd="true",
        AsyncAmdStatusCallback=receiver.url + "/amd",
    )
    wait(lambda: len(receiver.on("amd")) == 1)
    assert receiver.on("amd")[0].form()["AnsweredBy"] == "machine_end_other"
