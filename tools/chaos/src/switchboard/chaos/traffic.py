"""The load: the provider simulator's own traffic at a steady rate, through the real stack.

- Twilio calls created by the simulator itself (its calls scenario: no REST round trip per
  call, the callbacks signed by the simulator) with duplicate and out-of-order callbacks and a
  few lost final callbacks, to the ingress;
- inbound WhatsApp messages, each from a customer of its own, to a business created through
  the AI admin API, which the AI service answers through the simulator's OpenAI and WhatsApp
  send API (whose statuses come back as webhooks too);
- a dialer campaign (one attempt per contact, so a number called twice is a double dial),
  created, loaded and started through the dialer API, calling on its own Twilio account.
"""

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any, Final

import httpx

from switchboard.chaos.options import ChaosOptions
from switchboard.chaos.wiring import (
    APP_SECRET,
    CALLER_IDS,
    DIALER_ACCOUNT,
    TENANT,
    TRAFFIC_ACCOUNT,
    WHATSAPP_NUMBER,
    WHATSAPP_TOKEN,
    Ports,
    campaign_concurrency,
    twilio_accounts,
)
from switchboard.common.auth import Audience, LocalSigner

SEED: Final = 16
SLACK: Final = 3
"""The scenarios and the campaign are sized for this many times the planned duration: the
traffic flows until the schedule is done (a slow restart pushes the later faults back), then
what is left is stopped."""


def contact_phone(i: int) -> str:
    """The i-th contact's number (a valid New York number; +1646 2000000 on)."""
    return f"+1646{2_000_000 + i:07d}"


def contacts_csv(count: int) -> str:
    rows = ["phone,time_zone,name"]
    rows += [f"{contact_phone(i)},UTC,Chaos {i}" for i in range(count)]
    return "\n".join(rows) + "\n"


def sim_config(options: ChaosOptions, ingress_url: str) -> dict[str, Any]:
    """The simulator's whole run configuration (``POST /_sim/reset``)."""
    return {
        "seed": SEED,
        "time_scale": options.time_scale,
        "log_webhooks": False,
        "twilio_accounts": twilio_accounts(options),
        "faults": {
            "duplicate_rate": options.duplicate_rate,
            "out_of_order_rate": options.out_of_order_rate,
            "drop_final_rate": options.drop_final_rate,
            "retries": options.sim_retries,
        },
        "whatsapp": {
            "webhook_url": ingress_url + "/webhooks/whatsapp",
            "app_secret": APP_SECRET,
            "phone_numbers": {WHATSAPP_NUMBER: WHATSAPP_TOKEN},
        },
    }


@dataclass(slots=True)
class Traffic:
    """Starts the traffic, and stops what is left of it."""

    options: ChaosOptions
    ports: Ports
    signer: LocalSigner
    started_at: float = 0.0
    scenarios: list[str] = field(default_factory=list)
    campaign_id: str = ""
    business_id: str = ""

    def _headers(self, audience: Audience) -> dict[str, str]:
        return self.signer.bearer(TENANT, audience)

    async def start(self) -> None:
        o = self.options
        ingress = self.ports.url("ingress")
        async with httpx.AsyncClient(base_url=self.ports.url("provider-sim"), timeout=60) as sim:
            (await sim.post("/_sim/reset", json=sim_config(o, ingress))).raise_for_status()
            self.business_id = await self._business()
            self.campaign_id = await self._campaign()
            self.started_at = time.time()
            calls = await sim.post(
                "/_sim/scenarios/twilio-calls",
                json={
                    "count": o.calls * SLACK,
                    "rate": o.mix.calls_per_s(o.rate),
                    "status_callback": ingress + "/webhooks/twilio/voice/status",
                    "account_sid": TRAFFIC_ACCOUNT,
                },
            )
            calls.raise_for_status()
            messages = await sim.post(
                "/_sim/scenarios/whatsapp",
                json={
                    "count": o.messages * SLACK,
                    "users": o.messages * SLACK,  # a customer each: two replies are a double
                    "rate": o.mix.messages_per_s(o.rate),
                    "phone_number_id": WHATSAPP_NUMBER,
                    "text": "chaos: are you open today?",
                },
            )
            messages.raise_for_status()
            self.scenarios = [calls.json()["scenario"], messages.json()["scenario"]]

    async def _business(self) -> str:
        async with httpx.AsyncClient(
            base_url=self.ports.url("ai-api"), headers=self._headers(Audience.AI), timeout=60
        ) as api:
            created = await api.post(
                "/v1/businesses",
                json={
                    "name": "Chaos Bistro",
                    "system_prompt": "You answer WhatsApp messages for Chaos Bistro. Be brief.",
                    "whatsapp_phone_number_ids": [WHATSAPP_NUMBER],
                    "whatsapp_access_token": WHATSAPP_TOKEN,
                    "memory_messages": 4,
                    "rate_limit_per_minute": 0,
                    "monthly_spend_limit_usd": 0,
                },
            )
            created.raise_for_status()
            return str(created.json()["id"])

    async def _campaign(self) -> str:
        o = self.options
        async with httpx.AsyncClient(
            base_url=self.ports.url("dialer-api"),
            headers=self._headers(Audience.DIALER),
            timeout=120,
        ) as api:
            created = await api.post(
                "/v1/campaigns",
                json={
                    "name": "chaos",
                    "caller_ids": CALLER_IDS,
                    "twiml": "<Response><Say>Hello $name.</Say></Response>",
                    "window": {"start": "00:00", "end": "23:59:59"},
                    "max_attempts": 1,
                    "cps": o.mix.campaign_cps(o.rate),
                    "max_concurrent": campaign_concurrency(o),
                    "account_sid": DIALER_ACCOUNT,
                },
            )
            created.raise_for_status()
            cid = str(created.json()["id"])
            upload = await api.post(
                f"/v1/campaigns/{cid}/contacts",
                content=contacts_csv(o.contacts * SLACK),
                headers={"Content-Type": "text/csv"},
            )
            upload.raise_for_status()
            (await api.post(f"/v1/campaigns/{cid}/start")).raise_for_status()
            return cid

    async def finish(self, until: float) -> None:
        """At ``until`` (Unix time; at least the planned duration), stop the scenarios and
        pause the campaign (its remaining contacts stay pending, calls under way end)."""
        await asyncio.sleep(
            max(0.0, max(until, self.started_at + self.options.duration_s) - time.time())
        )
        async with httpx.AsyncClient(base_url=self.ports.url("provider-sim"), timeout=120) as sim:
            for name in self.scenarios:
                for _ in range(10):  # a saturated simulator may answer late
                    try:
                        await sim.delete(f"/_sim/scenarios/{name}")
                        break
                    except httpx.HTTPError:
                        await asyncio.sleep(2)
        await self.pause_campaign()

    async def pause_campaign(self) -> None:
        for _ in range(30):  # the dialer API may be the service a fault just restarted
            try:
                async with httpx.AsyncClient(
                    base_url=self.ports.url("dialer-api"),
                    headers=self._headers(Audience.DIALER),
                    timeout=30,
                ) as api:
                    answer = await api.post(f"/v1/campaigns/{self.campaign_id}/pause")
                if answer.status_code < 500:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(2)
