"""Recordings over the real PostgreSQL and the provider simulator's Twilio: a recorded call's
recording status callback is stored with its call, shown by the API, and deleted through the
API at the simulator; another tenant cannot see or delete it."""

from datetime import datetime
from email.utils import parsedate_to_datetime

import httpx
import pytest
from litestar.testing import AsyncTestClient
from pydantic import SecretStr

from switchboard.common.auth import Audience, LocalSigner
from switchboard.common.config import InMemoryConfig, TwilioAccount
from switchboard.common.events import CallRecordingStatus, CallStatus, CallStatusChanged, Event
from switchboard.history.app import create_api
from switchboard.history.handlers import handle_call_events
from switchboard.history.settings import HistorySettings, ReconcileSettings
from switchboard.providersim.settings import LOCAL_ACCOUNT, LOCAL_TOKEN


def credentials(token: str) -> InMemoryConfig:
    """The control plane's view: acme holds the simulator's account, with ``token``."""
    return InMemoryConfig(
        [TwilioAccount(id=LOCAL_ACCOUNT, tenants=("acme",), auth_tokens=(SecretStr(token),))]
    )


pytestmark = pytest.mark.integration
SIGNER = LocalSigner()


def auth(tenant: str) -> dict[str, str]:
    return {"authorization": f"Bearer {SIGNER.token(tenant, Audience.HISTORY)}"}


def recorded_call(sim, receiver, wait) -> dict[str, str]:
    """A completed call placed with Record=true: the recording callback's form."""
    sim.http.patch(
        "/_sim/config",
        json={"outcomes": {"completed": 1, "busy": 0, "no_answer": 0, "failed": 0}},
    )
    created = sim.http.post(
        f"/2010-04-01/Accounts/{LOCAL_ACCOUNT}/Calls.json",
        data={
            "To": "+14155550100",
            "From": "+15005550006",
            "Url": "http://example.invalid/twiml",
            "Record": "true",
            "RecordingStatusCallback": receiver.url + "/recording",
        },
        auth=(LOCAL_ACCOUNT, LOCAL_TOKEN),
    )
    assert created.status_code == 201, created.text
    wait(lambda: len(receiver.bodies) == 1)
    return dict(httpx.QueryParams(receiver.bodies[0].decode()))


def events_of(form: dict[str, str], tenant: str) -> list[Event]:
    """What the ingress publishes for the call's end and its recording callback."""
    at: datetime = parsedate_to_datetime(form["RecordingStartTime"])
    status = CallStatusChanged(
        provider="twilio",
        call_id=form["CallSid"],
        account_id=form["AccountSid"],
        status=CallStatus.COMPLETED,
        sequence_number=3,
        occurred_at=at,
    )
    recording = CallRecordingStatus(
        call_id=form["CallSid"],
        account_id=form["AccountSid"],
        recording_id=form["RecordingSid"],
        status=form["RecordingStatus"],
        url=form["RecordingUrl"],
        duration_s=int(form["RecordingDuration"]),
        occurred_at=at,
    )
    return [
        Event(id="e-status", source="/test", data=status, tenant=tenant),
        Event(id="e-recording", source="/test", data=recording, tenant=tenant),
    ]


@pytest.fixture
def wait():
    import time

    def until(check, timeout_s: float = 30.0) -> None:
        deadline = time.monotonic() + timeout_s
        while not check():
            assert time.monotonic() < deadline, "condition not met in time"
            time.sleep(0.02)

    return until


async def test_recording_is_stored_shown_and_deleted_at_the_provider(
    pg_settings, database, pg_store, sim, receiver, wait
) -> None:
    form = recorded_call(sim, receiver, wait)
    await handle_call_events(events_of(form, "acme"), pg_store, "dflt")
    await handle_call_events(events_of(form, "acme"), pg_store, "dflt")  # redelivered: no change
    call_sid, recording_sid = form["CallSid"], form["RecordingSid"]
    settings = HistorySettings(
        postgres=pg_settings,
        database=database,
        auth=SIGNER.settings(),
        reconcile=ReconcileSettings(twilio_base_url=sim.url),
    )
    config = credentials(LOCAL_TOKEN)
    at_sim = f"/2010-04-01/Accounts/{LOCAL_ACCOUNT}/Recordings/{recording_sid}.json"
    sim_auth = (LOCAL_ACCOUNT, LOCAL_TOKEN)
    async with AsyncTestClient(create_api(settings, config=config)) as client:
        detail = (await client.get(f"/v1/calls/{call_sid}", headers=auth("acme"))).json()
        [recording] = detail["recordings"]
        assert recording["recording_id"] == recording_sid
        assert recording["url"] == form["RecordingUrl"]
        assert recording["duration_s"] == int(form["RecordingDuration"]) >= 1
        assert recording["deleted_at"] is None
        assert "switchboard.call.recording.v1" in [e["event_type"] for e in detail["events"]]

        path = f"/v1/calls/{call_sid}/recordings/{recording_sid}"
        assert (await client.delete(path, headers=auth("globex"))).status_code == 404
        assert sim.http.get(at_sim, auth=sim_auth).status_code == 200  # untouched

        deleted = await client.delete(path, headers=auth("acme"))
        assert deleted.status_code == 204, deleted.text
        assert sim.http.get(at_sim, auth=sim_auth).status_code == 404  # gone at the provider
        detail = (await client.get(f"/v1/calls/{call_sid}", headers=auth("acme"))).json()
        [recording] = detail["recordings"]
        assert recording["deleted_at"] is not None and recording["url"] is None
        assert (await client.delete(path, headers=auth("acme"))).status_code == 204  # again

    # A late callback of the deleted recording does not bring it back.
    await handle_call_events(events_of(form, "acme"), pg_store, "dflt")
    async with AsyncTestClient(create_api(settings, config=config)) as client:
        detail = (await client.get(f"/v1/calls/{call_sid}", headers=auth("acme"))).json()
        assert detail["recordings"][0]["deleted_at"] is not None


async def test_provider_failure_is_503_and_nothing_is_marked(
    pg_settings, database, pg_store, sim, receiver, wait
) -> None:
    form = recorded_call(sim, receiver, wait)
    await handle_call_events(events_of(form, "acme"), pg_store, "dflt")
    settings = HistorySettings(
        postgres=pg_settings,
        database=database,
        auth=SIGNER.settings(),
        reconcile=ReconcileSettings(twilio_base_url=sim.url),
    )
    path = f"/v1/calls/{form['CallSid']}/recordings/{form['RecordingSid']}"
    config = credentials("a-wrong-auth-token-0123")
    async with AsyncTestClient(create_api(settings, config=config)) as client:
        answer = await client.delete(path, headers=auth("acme"))
        assert answer.status_code == 503, answer.text
        detail = (await client.get(f"/v1/calls/{form['CallSid']}", headers=auth("acme"))).json()
        assert detail["recordings"][0]["deleted_at"] is None
