"""The demo's live voice call: a caller asks a restaurant's Vapi assistant whether it is open on
Sunday and hears the answer from the restaurant's knowledge document.

The restaurant's Vapi phone number and assistant are the control plane's (bound to the tenant by
``make up``'s bootstrap, scripts/local/bootstrap.yaml); the restaurant itself, its voice profile
and its knowledge document are created through the AI admin API (reused on a later run: one
business of a tenant serves a channel). The simulator then plays the Vapi call: signed
``assistant-request`` → ingress → AI voice API (the restaurant's assistant), then a
``tool-calls`` message asking ``search_knowledge`` the caller's question → the answer spoken.
"""

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any, Final

import httpx
from rich.console import Console
from rich.table import Table

from switchboard.common.auth import Audience
from switchboard.providersim.tokens import TokenSource

PHONE_NUMBER_ID: Final = "pn-demo-restaurant"
"""The restaurant's Vapi phone number id, bound to ``local`` by the bootstrap file."""
NUMBER: Final = "+12125550199"
ASSISTANT_ID: Final = "asst-demo-restaurant"
"""The restaurant's saved Vapi assistant, bound to ``local`` by the bootstrap file."""
CALLER: Final = "+15557770100"
QUESTION: Final = "Are you open on Sunday?"
NAME: Final = "Demo Trattoria"
DOCUMENT: Final = {
    "title": "Opening hours",
    "content": (
        "# Opening hours\n\nDemo Trattoria is open on Sunday from 12:00 to 16:00 for lunch "
        "only, and Tuesday to Saturday from 12:00 to 22:00. Closed on Mondays.\n\n# Booking\n\n"
        "Tables for up to eight can be booked by phone."
    ),
}
ANSWER_MARK: Final = "open on Sunday from 12:00 to 16:00"
"""What the caller must hear: it is in the document, nowhere else."""
POLL_S: Final = 0.5


@dataclass(frozen=True, slots=True)
class VoiceDemo:
    ai_url: str
    tokens: TokenSource
    ingress_url: str
    vapi_secret: str = "local-voice-secret"  # noqa: S105 - the bootstrap's local Vapi secret
    auth_mode: str = "secret_header"
    """As the bootstrap's Vapi account says (``local-vapi-org``)."""
    timeout_s: float = 120.0


@dataclass(slots=True)
class VoiceResult:
    assistant: str | None = None
    heard: str = ""
    exchanges: list[dict[str, Any]] = field(default_factory=list)

    @property
    def in_time(self) -> bool:
        return bool(self.exchanges) and all(
            x["status"] == 200 and x["in_time"] for x in self.exchanges
        )

    @property
    def ok(self) -> bool:
        return self.assistant == ASSISTANT_ID and ANSWER_MARK in self.heard and self.in_time


def profile() -> dict[str, Any]:
    return {
        "channels": [f"vapi-phone/{PHONE_NUMBER_ID}", f"vapi-assistant/{ASSISTANT_ID}"],
        "time_zone": "Europe/Rome",
        "hours": {
            "sun": ["12:00-16:00"],
            **{d: ["12:00-22:00"] for d in ("tue", "wed", "thu", "fri", "sat")},
        },
        "vapi_assistant_id": ASSISTANT_ID,
        "tools": [{"name": "search_knowledge", "kind": "search_knowledge"}],
    }


async def ensure_restaurant(api: httpx.AsyncClient) -> str:
    """The restaurant's business id: created on the first run, its profile refreshed later."""
    for business in (await api.get("/v1/businesses")).json():
        if business["name"] == NAME:
            updated = await api.patch(f"/v1/businesses/{business['id']}", json={"voice": profile()})
            updated.raise_for_status()
            return str(business["id"])
    created = await api.post("/v1/businesses", json={"name": NAME, "voice": profile()})
    created.raise_for_status()
    return str(created.json()["id"])


async def run_voice(demo: VoiceDemo, sim: httpx.AsyncClient, console: Console) -> VoiceResult:
    headers = await demo.tokens.bearer(Audience.AI)
    deadline = time.monotonic() + demo.timeout_s
    async with httpx.AsyncClient(base_url=demo.ai_url, headers=headers, timeout=30) as api:
        business = await ensure_restaurant(api)
        doc = await api.put(f"/v1/businesses/{business}/documents/hours", json=DOCUMENT)
        doc.raise_for_status()
        console.print(
            f"[bold]restaurant {business}[/] ({NAME}) on Vapi number {NUMBER} "
            f"({PHONE_NUMBER_ID}); knowledge: {DOCUMENT['title']!r}"
        )
        while not await _document_ready(api, business):
            if time.monotonic() > deadline:
                raise TimeoutError("the voice demo waited too long for the document's embedding")
            await asyncio.sleep(POLL_S)
    config = {
        "vapi": {
            "webhook_url": demo.ingress_url.rstrip("/") + "/webhooks/vapi",
            "secret": demo.vapi_secret,
            "auth_mode": demo.auth_mode,
        }
    }
    (await sim.patch("/_sim/config", json=config)).raise_for_status()
    body = {
        "phone_number_id": PHONE_NUMBER_ID,
        "number": NUMBER,
        "caller": CALLER,
        "questions": [QUESTION],
    }
    result = VoiceResult()
    while True:  # the voice API may still be reading the control plane's bindings
        call = await sim.post("/_sim/voice-live/vapi", json=body, timeout=60)
        call.raise_for_status()
        result = _heard(call.json())
        if result.ok or time.monotonic() > deadline:
            break
        await asyncio.sleep(POLL_S)
    console.print(f"[cyan]caller    [/] {QUESTION}")
    console.print(f"[green]assistant [/] {result.heard or '(nothing)'}")
    return result


def _heard(call: dict[str, Any]) -> VoiceResult:
    exchanges = list(call.get("exchanges", []))
    result = VoiceResult(exchanges=exchanges)
    if exchanges and isinstance(exchanges[0]["answer"], dict):
        result.assistant = exchanges[0]["answer"].get("assistantId")
    for x in exchanges[1:]:
        answer = x["answer"] if isinstance(x["answer"], dict) else {}
        for r in answer.get("results", []):
            result.heard += str(r.get("result") or r.get("error") or "")
    return result


async def _document_ready(api: httpx.AsyncClient, business: str) -> bool:
    docs = (await api.get(f"/v1/businesses/{business}/documents")).json()
    return bool(docs) and all(d["status"] == "ready" for d in docs)


def voice_table(result: VoiceResult) -> Table:
    table = Table(title="Live Vapi call")
    table.add_column("measure")
    table.add_column("value", justify="right")
    slowest = max((x["elapsed_ms"] for x in result.exchanges), default=0.0)
    for name, value in (
        ("assistant chosen", result.assistant or "NONE"),
        ("answer from the knowledge document", "yes" if ANSWER_MARK in result.heard else "NO"),
        ("every exchange answered in time", "yes" if result.in_time else "NO"),
        ("slowest exchange (ms)", f"{slowest:.0f}"),
    ):
        table.add_row(name, value)
    return table
