"""Meta's WhatsApp Cloud API: inbound messages as signed webhooks, the send endpoint, statuses.

Webhooks are shaped and batched like Meta's (``entry[].changes[].value.messages[]``, several
messages or statuses in one POST) and signed with ``X-Hub-Signature-256``. Each user's inbound
message opens (or renews) the 24-hour customer-service window the send endpoint enforces.
"""

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from litestar import Response

from switchboard.providersim.signing import meta_signature
from switchboard.providersim.state import SimState
from switchboard.providersim.webhooks import JSON, Delivery, WebhookSender
from switchboard.providersim.whatsapp_errors import status_error

STATUS_STEPS = ("sent", "delivered", "read")
STATUS_STEP_S = 0.5
"""Simulated seconds between two statuses of a sent message."""
WINDOW: Final = timedelta(hours=24)
NOT_FROM_THE_USER: Final = frozenset({"system"})
"""Inbound types that do not open a window (WhatsApp's own notices)."""


def meta_error(status: int, message: str, kind: str, code: int) -> Response[Any]:
    return Response(
        {"error": {"message": message, "type": kind, "code": code, "fbtrace_id": "AsimTrace"}},
        status_code=status,
    )


class WhatsAppCloud:
    """Builds, signs and sends WhatsApp webhooks; runs inbound-traffic scenarios."""

    def __init__(self, state: SimState, sender: WebhookSender) -> None:
        self._state = state
        self._sender = sender

    def display_number(self, phone_number_id: str) -> str:
        cfg = self._state.config.whatsapp
        return cfg.display_numbers.get(phone_number_id, "1555" + phone_number_id[-7:])

    def wamid(self) -> str:
        return "wamid.HBgL" + self._state.new_id("", 40).upper()

    def payload(self, phone_number_id: str, value: dict[str, Any]) -> dict[str, Any]:
        """Meta's envelope around one ``value`` (messages or statuses of one number)."""
        cfg = self._state.config.whatsapp
        return {
            "object": "whatsapp_business_account",
            "entry": [
                {
                    "id": cfg.waba_id,
                    "changes": [
                        {
                            "field": "messages",
                            "value": {
                                "messaging_product": "whatsapp",
                                "metadata": {
                                    "display_phone_number": self.display_number(phone_number_id),
                                    "phone_number_id": phone_number_id,
                                },
                                **value,
                            },
                        }
                    ],
                }
            ],
        }

    async def post(self, kind: str, payload: dict[str, Any], key: str) -> int | None:
        """Sign and send one webhook to the configured URL (counted as dropped when none)."""
        cfg = self._state.config.whatsapp
        if not cfg.webhook_url:
            self._state.record("whatsapp.unsent", reason="no webhook_url", key=key)
            return None
        body = json.dumps(payload, separators=(",", ":")).encode()
        headers = {
            "Content-Type": JSON,
            "X-Hub-Signature-256": meta_signature(body, cfg.app_secret),
        }
        return await self._sender.send(Delivery(kind, cfg.webhook_url, body, headers, key=key))

    def inbound_message(self, wa_id: str, text: str) -> dict[str, Any]:
        return self.message_of(wa_id, {"type": "text", "text": {"body": text}})

    def message_of(self, wa_id: str, spec: dict[str, Any]) -> dict[str, Any]:
        """A Meta-shaped inbound message: ``spec`` gives the type and its body (any type:
        image, location, interactive, reaction ...), optionally ``timestamp`` and ``context``."""
        return {
            "from": wa_id,
            "id": self.wamid(),
            "timestamp": str(spec.get("timestamp") or int(time.time())),
            **{k: v for k, v in spec.items() if k != "timestamp"},
        }

    def window_open(self, phone_number_id: str, wa_id: str) -> bool:
        """Whether the user wrote to this number in the last 24 hours."""
        last = self._state.whatsapp_windows.get((phone_number_id, wa_id))
        return last is not None and datetime.now(UTC) - last < WINDOW

    def _opened(self, phone_number_id: str, message: dict[str, Any]) -> None:
        if message.get("type") in NOT_FROM_THE_USER:
            return
        try:
            at = datetime.fromtimestamp(int(message["timestamp"]), UTC)
        except (KeyError, TypeError, ValueError):
            at = datetime.now(UTC)
        key = (phone_number_id, str(message["from"]))
        known = self._state.whatsapp_windows.get(key)
        self._state.whatsapp_windows[key] = at if known is None else max(known, at)

    async def send_inbound(
        self, phone_number_id: str, batch: list[tuple[str, str, dict[str, Any]]]
    ) -> None:
        """Post ``(wa_id, name, message)`` items as one batched webhook."""
        contacts: dict[str, dict[str, Any]] = {}
        for wa_id, name, _ in batch:
            contacts[wa_id] = {"profile": {"name": name}, "wa_id": wa_id}
        messages = [m for _, _, m in batch]
        for wa_id, _, message in batch:
            self._state.whatsapp_inbound.append({"phone_number_id": phone_number_id, **message})
            self._opened(phone_number_id, message)
            self._state.record("whatsapp.inbound", id=message["id"], wa_id=wa_id)
        payload = self.payload(
            phone_number_id, {"contacts": list(contacts.values()), "messages": messages}
        )
        await self.post("whatsapp.messages", payload, ",".join(m["id"] for m in messages))

    async def inbound_scenario(
        self,
        phone_number_id: str,
        count: int,
        users: int,
        rate: float,
        text: str,
        *,
        numbered: bool = True,
    ) -> None:
        """``count`` messages from ``users`` simulated users at ``rate`` messages per second."""
        rng = self._state.rng
        sent = 0
        while sent < count:
            size = min(count - sent, rng.randint(1, max(1, self._state.config.whatsapp.batch_max)))
            batch = []
            for i in range(sent, sent + size):
                wa_id = f"1555{(i % users):07d}"
                name = f"Sim User {i % users}"
                body = f"{text} #{i}" if numbered else text
                batch.append((wa_id, name, self.inbound_message(wa_id, body)))
            await self.send_inbound(phone_number_id, batch)
            sent += size
            self._state.counters["whatsapp.scenario.sent"] += size
            if rate > 0:
                await asyncio.sleep(size / rate)

    async def status_walk(self, phone_number_id: str, message_id: str, recipient: str) -> None:
        """Statuses of a sent message: sent → delivered → read, each as its own webhook."""
        for i, status in enumerate(STATUS_STEPS):
            if i:
                await self._state.sleep_sim(STATUS_STEP_S)
            entry = {
                "id": message_id,
                "status": status,
                "timestamp": str(int(time.time())),
                "recipient_id": recipient,
            }
            self._state.record("whatsapp.status", id=message_id, status=status)
            await self.post(
                "whatsapp.statuses",
                self.payload(phone_number_id, {"statuses": [entry]}),
                f"{message_id}:{status}",
            )

    async def failed_status(
        self, phone_number_id: str, message_id: str, recipient: str, code: int
    ) -> None:
        """An accepted message that Meta then fails: a ``failed`` status carrying the error."""
        entry = {
            "id": message_id,
            "status": "failed",
            "timestamp": str(int(time.time())),
            "recipient_id": recipient,
            "errors": [status_error(code)],
        }
        self._state.record("whatsapp.status", id=message_id, status="failed", code=code)
        await self.post(
            "whatsapp.statuses",
            self.payload(phone_number_id, {"statuses": [entry]}),
            f"{message_id}:failed",
        )
