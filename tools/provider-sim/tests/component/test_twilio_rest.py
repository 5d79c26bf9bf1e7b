"""Twilio's REST API over HTTP: the real ``twilio`` SDK, auth, and the account limits."""

import concurrent.futures
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from switchboard.providersim.settings import TwilioAccountConfig


def sdk_client(sim) -> Client:
    client = Client(sim.account, sim.token)
    client.api.base_url = sim.url  # the one line that points the SDK at the simulator
    return client


def test_sdk_creates_fetches_and_lists_a_call(sim, receiver, wait):
    client = sdk_client(sim)
    created = client.calls.create(
        to="+14155550111",
        from_="+15005550006",
        url="http://example.invalid/twiml",
        status_callback=receiver.url + "/status",
        status_callback_event=["initiated", "ringing", "answered", "completed"],
    )
    assert created.sid.startswith("CA") and len(created.sid) == 34
    assert created.status == "queued"
    assert created.to == "+14155550111"
    assert isinstance(created.date_created, datetime)

    wait(
        lambda: (
            client.calls(created.sid).fetch().status in {"completed", "busy", "no-answer", "failed"}
        )
    )
    fetched = client.calls(created.sid).fetch()
    assert fetched.sid == created.sid
    assert fetched.end_time is not None

    listed = client.calls.list(
        to="+14155550111", start_time_after=datetime.now(UTC) - timedelta(days=1)
    )
    assert [c.sid for c in listed] == [created.sid]
    assert client.calls.list(to="+19999999999") == []


def test_list_is_paged_like_twilio(sim):
    for i in range(5):
        assert sim.create_call(To=f"+1415555020{i}").status_code == 201
    client = sdk_client(sim)
    page = client.calls.page(page_size=2)
    assert len(list(page)) == 2
    assert page.next_page_url is not None
    assert len(client.calls.list(page_size=2)) == 5  # the SDK follows next_page_uri

    raw = sim.http.get(
        f"/2010-04-01/Accounts/{sim.account}/Calls.json",
        params={"PageSize": 2, "Page": 2, "StartTime>": datetime.now(UTC).date().isoformat()},
        auth=(sim.account, sim.token),
    ).json()
    assert raw["page"] == 2 and raw["page_size"] == 2 and len(raw["calls"]) == 1
    assert raw["next_page_uri"] is None and raw["previous_page_uri"]


def test_a_queued_call_has_no_start_time_and_start_time_filters_skip_it(sim, wait):
    sim.configure(faults={"queue_s": 3600})  # held in the queue, as behind a long CPS queue
    client = sdk_client(sim)
    created = client.calls.create(
        to="+14155550177", from_="+15005550006", url="http://example.invalid/twiml"
    )
    fetched = client.calls(created.sid).fetch()
    assert fetched.status == "queued" and fetched.start_time is None
    assert int(fetched.queue_time) >= 3_600_000
    assert isinstance(fetched.date_created, datetime)
    raw = sim.http.get(
        f"/2010-04-01/Accounts/{sim.account}/Calls/{created.sid}.json",
        auth=(sim.account, sim.token),
    ).json()
    assert raw["start_time"] is None and raw["date_created"] is not None

    since = datetime.now(UTC) - timedelta(days=1)
    assert client.calls.list(to="+14155550177", start_time_after=since) == []
    assert [c.sid for c in client.calls.list(to="+14155550177")] == [created.sid]
    assert [c.sid for c in client.calls.list(to="+14155550177", status="queued")] == [created.sid]


def test_wrong_credentials_get_twilio_401(sim):
    response = sim.http.post(
        f"/2010-04-01/Accounts/{sim.account}/Calls.json",
        data={"To": "+1", "From": "+2", "Url": "http://x"},
        auth=(sim.account, "wrong"),
    )
    assert response.status_code == 401
    assert response.json() == {
        "code": 20003,
        "message": "Authenticate",
        "more_info": "https://www.twilio.com/docs/errors/20003",
        "status": 401,
    }
    bad = Client(sim.account, "wrong")
    bad.api.base_url = sim.url
    with pytest.raises(TwilioRestException) as err:
        bad.calls.create(to="+1", from_="+2", url="http://x.invalid")
    assert err.value.status == 401 and err.value.code == 20003


def test_unknown_call_is_20404(sim):
    with pytest.raises(TwilioRestException) as err:
        sdk_client(sim).calls("CA" + "0" * 32).fetch()
    assert err.value.status == 404 and err.value.code == 20404


def test_calls_above_cps_are_queued_then_22005_when_the_queue_is_full(start_sim):
    sim = start_sim(
        twilio_accounts={
            "AC" + "5" * 32: TwilioAccountConfig(auth_token="sim-test-token", cps=1, queue_size=2)
        }
    )
    answers = [sim.create_call() for _ in range(4)]
    assert [a.status_code for a in answers[:3]] == [201, 201, 201]
    queue_times = [int(a.json()["queue_time"]) for a in answers[:3]]
    assert queue_times[0] == 0 and queue_times[1] > 0 and queue_times[2] > queue_times[1]
    assert answers[3].status_code == 429
    body = answers[3].json()
    assert body["code"] == 22005 and body["status"] == 429
    assert body["more_info"] == "https://www.twilio.com/docs/errors/22005"
    report = sim.http.get("/_sim/limits").json()[sim.account]
    assert report["max_observed_cps"] >= 2 and report["breaches"]["cps"] >= 1
    assert report["breaches"]["queue_full"] == 1


def test_calls_above_concurrency_get_10004(start_sim):
    sim = start_sim(
        twilio_accounts={
            "AC" + "5" * 32: TwilioAccountConfig(
                auth_token="sim-test-token", cps=100, max_concurrent_calls=2
            )
        },
        time_scale=1.0,  # calls ring for a minute, so they are still live
        outcomes={"completed": 1, "busy": 0, "no_answer": 0, "failed": 0, "ring_s": [60, 60]},
    )
    assert [sim.create_call().status_code for _ in range(2)] == [201, 201]
    refused = sim.create_call()
    assert refused.status_code == 429
    assert refused.json()["code"] == 10004
    assert set(refused.json()) == {"code", "message", "more_info", "status"}
    report = sim.http.get("/_sim/limits").json()[sim.account]
    assert report["max_observed_active_calls"] == 2 and report["breaches"]["concurrency"] == 1


def test_too_many_concurrent_requests_get_429_20429(start_sim):
    sim = start_sim(
        twilio_accounts={
            "AC" + "5" * 32: TwilioAccountConfig(
                auth_token="sim-test-token", max_concurrent_requests=1, api_latency_ms=500
            )
        }
    )
    url = f"{sim.url}/2010-04-01/Accounts/{sim.account}/Calls.json"

    def list_calls(_: int) -> httpx.Response:
        return httpx.get(url, auth=(sim.account, sim.token), timeout=30)

    with concurrent.futures.ThreadPoolExecutor(max_workers=6) as pool:
        answers = list(pool.map(list_calls, range(6)))
    refused = [a for a in answers if a.status_code == 429]
    assert refused, [a.status_code for a in answers]
    assert refused[0].json() == {
        "code": 20429,
        "message": "Too Many Requests",
        "more_info": "https://www.twilio.com/docs/errors/20429",
        "status": 429,
    }
    report = sim.http.get("/_sim/limits").json()[sim.account]
    assert report["breaches"]["requests"] == len(refused)
    assert report["max_observed_concurrent_requests"] == 1


def test_update_cancels_a_ringing_call(start_sim, receiver, wait):
    sim = start_sim(
        time_scale=1.0,  # rings for a minute: long enough to cancel it while it rings
        outcomes={"completed": 1, "busy": 0, "no_answer": 0, "failed": 0, "ring_s": [60, 60]},
    )
    sid = sim.create_call(StatusCallback=receiver.url + "/cb").json()["sid"]
    client = sdk_client(sim)
    wait(lambda: client.calls(sid).fetch().status in ("initiated", "ringing"))
    updated = client.calls(sid).update(status="canceled")
    assert updated.status == "canceled"
    wait(lambda: len(receiver.on("cb")) == 1)
    assert receiver.on("cb")[0].form()["CallStatus"] == "canceled"


def test_sms_status_callbacks_walk_queued_sent_delivered(sim, receiver, wait):
    client = sdk_client(sim)
    message = client.messages.create(
        to="+14155550100", from_="+15005550006", body="hi", status_callback=receiver.url + "/sms"
    )
    assert message.sid.startswith("SM") and message.status == "queued"
    wait(lambda: len(receiver.on("sms")) == 3)
    assert [r.form()["MessageStatus"] for r in receiver.on("sms")] == [
        "queued",
        "sent",
        "delivered",
    ]
    assert client.messages(message.sid).fetch().status == "delivered"
