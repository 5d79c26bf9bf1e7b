"""Voicemail drop and recordings against the provider simulator's Twilio (real PostgreSQL,
Redis and the simulator as a process): a campaign with a voicemail message places its calls
with async AMD (DetectMessageEnd) and Record=true; a machine that beeped gets the message and
hangs up, a human's call is left alone; the recording of a recorded call is announced to the
ingress's recording route, signed."""

import asyncio
import json
import uuid
from datetime import UTC, datetime, time
from typing import Any

import httpx
import pytest
from litestar import Litestar, Request, post
from pydantic import AnyHttpUrl
from twilio.request_validator import RequestValidator

from switchboard.common.events import CallMachineDetected, Event
from switchboard.dialer import outbox
from switchboard.dialer.adapters.postgres import PostgresCampaignStore
from switchboard.dialer.adapters.postgres_dialing import PostgresDialingStore
from switchboard.dialer.adapters.twilio import TwilioCallPlacer
from switchboard.dialer.handlers import handle_call_events
from switchboard.dialer.models import Amd, CallingWindow, CampaignConfig
from switchboard.dialer.repository import Campaign
from switchboard.dialer.settings import WindowSettings
from switchboard.dialer.worker import DialWorker
from switchboard.providersim.server import ThreadServer

from .. import fakes

pytestmark = pytest.mark.integration

ACCOUNT = "AC00000000000000000000000000000001"  # the account of the ``settings`` fixture
TOKEN = fakes.TOKEN
MACHINE, HUMAN, SILENT = "+12125550011", "+12125550012", "+12125550013"
MESSAGE = "Hi, this is Acme Dental about your appointment. Please call us back."
ALL_DAY = CallingWindow(start=time(0), end=time(23, 59, 59))


class Ingress:
    """Stands in for the ingress: keeps every signed form posted to it, by path."""

    def __init__(self) -> None:
        self.forms: list[tuple[str, dict[str, str], str]] = []
        self.urls: dict[str, str] = {}
        """path → the full URL (query included) last posted to it."""

        @post("/{path:path}", status_code=204)
        async def catch(request: Request[Any, Any, Any]) -> None:
            form = dict(httpx.QueryParams((await request.body()).decode()))
            path = request.url.path.strip("/")
            self.urls[path] = str(request.url)
            self.forms.append((path, form, request.headers.get("x-twilio-signature", "")))

        self.server = ThreadServer(Litestar(route_handlers=[catch])).start()
        self.url = self.server.url

    def on(self, path: str) -> list[dict[str, str]]:
        return [f for p, f, _ in self.forms if p == path]


@pytest.fixture
def ingress():
    fake = Ingress()
    yield fake
    fake.server.stop()


@pytest.fixture
async def sim(services, port):
    sim_port = port()
    process = services(
        "provider-sim",
        ["switchboard.providersim", "serve"],
        {
            "SWITCHBOARD_SIM__PORT": str(sim_port),
            "SWITCHBOARD_SIM__TWILIO_ACCOUNTS": json.dumps(
                {ACCOUNT: {"auth_token": TOKEN, "cps": 100}}
            ),
            "SWITCHBOARD_SIM__TIME_SCALE": "0.01",
            "SWITCHBOARD_SIM__OUTCOMES": json.dumps(
                {
                    "completed": 1,
                    "busy": 0,
                    "no_answer": 0,
                    "failed": 0,
                    "talk_mean_s": 100000,  # answered calls stay live until updated
                    "talk_max_s": 100000,
                    "answered_by": {
                        MACHINE: "machine_end_beep",
                        HUMAN: "human",
                        SILENT: "machine_end_silence",
                    },
                }
            ),
        },
        sim_port,
    )
    await asyncio.to_thread(process.wait_ready, "/health")
    async with httpx.AsyncClient(base_url=process.url) as client:
        yield client


async def eventually(check, timeout_s: float = 60.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.1)


def amd_event(form: dict[str, str]) -> Event:
    """What the ingress publishes for an async AMD callback."""
    data = CallMachineDetected(
        provider="twilio",
        call_id=form["CallSid"],
        account_id=form["AccountSid"],
        answered_by=form["AnsweredBy"],
        occurred_at=datetime.now(UTC),
    )
    return Event(id=str(uuid.uuid4()), source="/test", data=data, tenant="acme")


async def test_voicemail_on_machines_only_and_recordings_reported(
    settings, pool, pacer, sim, ingress, accounts
) -> None:
    settings.twilio.api_base_url = AnyHttpUrl(str(sim.base_url))
    settings.window = WindowSettings(start=time(0), end=time(23, 59, 59))
    settings.twilio.callback_overrides = ""
    placer = TwilioCallPlacer(settings.twilio, ingress.url, accounts.credentials)
    store = PostgresDialingStore(pool)
    campaigns = PostgresCampaignStore(pool)
    cfg = CampaignConfig(
        caller_ids=["+13125550100"],
        twiml="<Response><Say>Hello</Say></Response>",
        window=ALL_DAY,
        amd=Amd(voicemail_message=MESSAGE),
        record=True,
    )
    campaign = await campaigns.create_campaign(
        Campaign(uuid.uuid4(), "acme", "voicemail", "draft", ACCOUNT, 10.0, 10, cfg)
    )
    async with campaigns.contact_loader(campaign, 10) as loader:
        await loader.add(
            [(2 + i, n, "America/New_York", None) for i, n in enumerate((MACHINE, HUMAN, SILENT))]
        )
        await loader.finish()
    now = datetime.now(UTC)
    await campaigns.apply_command(
        "acme", campaign.id, "start", outbox.command(campaign.id, "acme", "start", None, now)
    )
    dialer = DialWorker(settings, store, pacer, placer, accounts=accounts, worker_id="w1")
    try:

        async def all_placed() -> bool:
            await dialer.loop.step()
            return (
                await pool.fetchval("SELECT count(*) FROM attempts WHERE call_sid IS NOT NULL") == 3
            )

        await eventually(all_placed)
        await dialer.loop.drain()
        calls = {c["to"]: c for c in (await sim.get("/_sim/calls")).json()}
        for call in calls.values():  # async AMD waiting for the greeting's end, and recorded
            assert call["machine_detection"] == "DetectMessageEnd"
            assert call["record"] is True
            # the form names no number: the URL names the tenant's (the caller ID)
            assert call["recording_callback"] == (
                ingress.url + "/webhooks/twilio/voice/recording?channel=%2B13125550100"
            )

        async def verdicts() -> bool:
            return len(ingress.on("webhooks/twilio/voice/status")) >= 3 and all(
                any(
                    f.get("AnsweredBy") and f["CallSid"] == c["sid"] and "CallStatus" not in f
                    for f in ingress.on("webhooks/twilio/voice/status")
                )
                for c in calls.values()
            )

        await eventually(verdicts)
        amd = [f for f in ingress.on("webhooks/twilio/voice/status") if "CallStatus" not in f]
        await handle_call_events([amd_event(f) for f in amd], store, pacer, placer, now)

        async def machines_done() -> bool:
            views = [
                (await sim.get(f"/_sim/calls/{calls[n]['sid']}")).json() for n in (MACHINE, SILENT)
            ]
            return all(v["status"] == "completed" for v in views)

        await eventually(machines_done)
        for number in (MACHINE, SILENT):
            view = (await sim.get(f"/_sim/calls/{calls[number]['sid']}")).json()
            [twiml] = view["twiml_updates"]
            assert MESSAGE in twiml and twiml.endswith("<Hangup/></Response>")
        human = (await sim.get(f"/_sim/calls/{calls[HUMAN]['sid']}")).json()
        assert human["twiml_updates"] == [] and human["status"] == "in-progress"

        recording_path = "webhooks/twilio/voice/recording"

        async def recorded() -> bool:
            return len(ingress.on(recording_path)) == 2

        await eventually(recorded)
        validator = RequestValidator(TOKEN)
        url = ingress.urls[recording_path]
        assert url.endswith("?channel=%2B13125550100")
        for path, form, signature in ingress.forms:
            if path == recording_path:
                assert validator.validate(url, form, signature)
                assert form["RecordingStatus"] == "completed"
        assert {f["CallSid"] for f in ingress.on(recording_path)} == {
            calls[MACHINE]["sid"],
            calls[SILENT]["sid"],
        }
    finally:
        await dialer.loop.drain()
        await placer.close()
