"""The demo's WhatsApp conversation: a business is created through the AI service's admin API
with a knowledge document; a simulated customer writes to it twice on WhatsApp. Each message
goes simulator → ingress (signed webhook) → Kafka → AI worker → the simulator's OpenAI → the
simulator's WhatsApp send API. The transcript shows the replies, and the prompt of the second
turn shows the remembered first turn and the cited document.
"""

import asyncio
import functools
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Final

import httpx
from rich.console import Console
from rich.table import Table

from switchboard.common.auth import Audience
from switchboard.providersim.tokens import ControlTokens, TokenSource

CUSTOMER: Final = "15550000000"  # the simulator's first user (``users: 1``)
TURNS: Final = (
    "Hi! Are you open on Sunday?",
    "Great. Until what time can I book a table?",
)
DOCUMENT: Final = {
    "title": "Opening hours",
    "content": (
        "# Opening hours\n\nDemo Bistro is open Tuesday to Sunday from 12:00 to 22:00 and "
        "closed on Mondays. The last table booking is at 21:00.\n\n# Menu\n\nPasta, "
        "risotto and a vegetarian lunch menu every day."
    ),
}
POLL_S: Final = 0.3


BindNumber = Callable[[str], Awaitable[None]]
"""Binds a WhatsApp phone_number_id to the demo's tenant on the control plane."""


@dataclass(frozen=True, slots=True)
class ConversationDemo:
    ai_url: str
    tokens: TokenSource
    timeout_s: float = 90.0
    bind_number: BindNumber | None = None
    """Called with this run's number first: the ingress gives a message on a number no tenant
    owns to no tenant (``unowned.events``), so the AI service would never see it."""
    number: str = ""
    """A fixed phone_number_id the control plane already binds to the tenant; empty: a fresh
    one per run (bound with ``bind_number``)."""


def control_binder(
    control_url: str, tokens: ControlTokens, *, account_id: str, waba_id: str
) -> BindNumber:
    """Bind numbers to ``tokens``' tenant through the control API with its operator key
    (``make demo``)."""

    async def bind(number: str) -> None:
        operator = await tokens.operator_bearer()
        async with httpx.AsyncClient(base_url=control_url, timeout=30) as api:
            bound = await api.put(
                f"/v1/admin/channels/whatsapp/{number}",
                headers=operator,
                json={"tenant": tokens.tenant, "account_id": account_id, "waba_id": waba_id},
            )
            bound.raise_for_status()

    return bind


@dataclass(slots=True)
class ConversationResult:
    turns: list[tuple[str, str]] = field(default_factory=list)
    """(customer text, reply text) in order."""
    last_prompt: list[dict[str, Any]] = field(default_factory=list)
    """The messages the model got for the last turn."""

    @property
    def remembered(self) -> bool:
        """The last prompt carried the earlier turns, customer's and business's."""
        contents = [m.get("content") for m in self.last_prompt]
        return all(q in contents and a in contents for q, a in self.turns[:-1])

    @property
    def cited(self) -> bool:
        system = next((m["content"] for m in self.last_prompt if m["role"] == "system"), "")
        return f"[{DOCUMENT['title']}]" in system

    @property
    def ok(self) -> bool:
        return len(self.turns) == len(TURNS) and self.remembered and self.cited


async def run_conversation(
    demo: ConversationDemo, sim: httpx.AsyncClient, console: Console
) -> ConversationResult:
    # A phone number id of this run's own, so earlier runs' businesses do not claim it.
    number = demo.number or f"10{secrets.randbelow(10**13):013d}"
    token = secrets.token_urlsafe(16)
    config = {"whatsapp": {"phone_numbers": {number: token}}}
    (await sim.patch("/_sim/config", json=config)).raise_for_status()
    if demo.bind_number is not None:
        # First: the binding travels to the ingress while the document is embedded.
        await demo.bind_number(number)
    headers = await demo.tokens.bearer(Audience.AI)
    deadline = time.monotonic() + demo.timeout_s
    result = ConversationResult()
    async with httpx.AsyncClient(base_url=demo.ai_url, headers=headers, timeout=30) as api:
        body = {
            "name": "Demo Bistro",
            "system_prompt": "You answer WhatsApp messages for Demo Bistro. Be brief.",
            "whatsapp_phone_number_ids": [number],
            "whatsapp_access_token": token,
            "memory_messages": 10,
        }
        # The AI service takes the number once the control plane's binding reached it (a
        # second or two after the bind): until then it answers 422 "not bound".
        created = await _until(
            functools.partial(_create_business, api, body), deadline, "the number's binding"
        )
        business = created["id"]
        doc = await api.put(f"/v1/businesses/{business}/documents/hours", json=DOCUMENT)
        doc.raise_for_status()
        console.print(
            f"[bold]business {business}[/] on WhatsApp number {number}; "
            f"knowledge: {DOCUMENT['title']!r}"
        )
        ready = functools.partial(_document_ready, api, business)
        await _until(ready, deadline, "document embedded")
    for i, text in enumerate(TURNS):
        started = await sim.post(
            "/_sim/scenarios/whatsapp",
            json={
                "count": 1,
                "users": 1,
                "rate": 0,
                "phone_number_id": number,
                "text": text,
                "numbered": False,
            },
        )
        started.raise_for_status()
        console.print(f"[cyan]customer[/] {text}")
        replies = await _until(functools.partial(_replies, sim, number, i + 1), deadline, "reply")
        reply = replies[i]["text"]["body"]
        console.print(f"[green]bistro  [/] {reply}")
        result.turns.append((text, reply))
    requests = (await sim.get("/_sim/openai/requests")).json()
    last = [
        r
        for r in requests
        if r["endpoint"] == "chat.completions"
        and any(m.get("content") == TURNS[-1] for m in r["messages"])
    ]
    result.last_prompt = last[-1]["messages"] if last else []
    return result


async def _document_ready(api: httpx.AsyncClient, business: str) -> bool:
    docs = (await api.get(f"/v1/businesses/{business}/documents")).json()
    return bool(docs) and all(d["status"] == "ready" for d in docs)


async def _replies(sim: httpx.AsyncClient, number: str, count: int) -> list[dict[str, Any]]:
    replies = (await sim.get("/_sim/messages")).json()["whatsapp_replies"]
    mine = [r for r in replies if r["phone_number_id"] == number and r["to"] == CUSTOMER]
    return mine if len(mine) >= count else []


async def _create_business(api: httpx.AsyncClient, body: dict[str, Any]) -> Any:
    created = await api.post("/v1/businesses", json=body)
    if created.status_code == 422 and "not bound" in created.text:
        return None
    created.raise_for_status()
    return created.json()


async def _until(check: Any, deadline: float, what: str) -> Any:
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"the demo conversation waited too long for: {what}")
        await asyncio.sleep(POLL_S)


def conversation_table(result: ConversationResult) -> Table:
    roles = " → ".join(m["role"] for m in result.last_prompt)
    table = Table(title="AI WhatsApp conversation")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for name, value in (
        ("turns answered", f"{len(result.turns)} / {len(TURNS)}"),
        ("last prompt", roles or "-"),
        ("earlier turns remembered", "yes" if result.remembered else "NO"),
        (f"knowledge cited ({DOCUMENT['title']})", "yes" if result.cited else "NO"),
    ):
        table.add_row(name, value)
    return table
