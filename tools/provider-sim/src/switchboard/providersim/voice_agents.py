"""Vapi and ElevenLabs voice agents: simulated calls, their end-of-call webhooks, fetch APIs.

Vapi posts ``{"message": {...}}`` (``status-update``, ``end-of-call-report``) with
``X-Vapi-Secret``; ElevenLabs posts ``post_call_transcription`` signed with
``ElevenLabs-Signature: t=..,v0=..``. ``GET /call/{id}``, ``GET /v1/convai/conversations`` and
``GET /v1/convai/conversations/{id}`` let a reconciler find and fetch what a lost webhook carried.
"""

import asyncio
import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from switchboard.providersim.signing import elevenlabs_signature, vapi_headers
from switchboard.providersim.state import SimState
from switchboard.providersim.webhooks import JSON, Delivery, WebhookSender

ENDED_REASONS = ("customer-ended-call", "assistant-ended-call", "silence-timed-out")


def _iso(value: datetime) -> str:
    return value.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _transcript(rng_digits: int) -> list[tuple[str, str]]:
    return [
        ("agent", "Hello, this is the Switchboard assistant. How can I help?"),
        ("user", f"I would like to check order {rng_digits}."),
        ("agent", f"Order {rng_digits} ships tomorrow. Anything else?"),
        ("user", "No, thank you."),
    ]


class VoiceAgents:
    """Runs simulated Vapi / ElevenLabs calls and posts their webhooks."""

    def __init__(self, state: SimState, sender: WebhookSender) -> None:
        self._state = state
        self._sender = sender

    def _uuid(self) -> str:
        return str(uuid.UUID(int=self._state.rng.getrandbits(128), version=4))

    async def _post(
        self, kind: str, url: str | None, body: bytes, headers: dict[str, str], key: str
    ) -> None:
        if not url:
            self._state.record(f"{kind}.unsent", reason="no webhook_url", key=key)
            return
        await self._sender.send(
            Delivery(kind, url, body, {"Content-Type": JSON, **headers}, key=key)
        )

    async def vapi_call(self, duration_s: float) -> str:
        """One Vapi call: status-update in-progress, then ended, then the end-of-call report."""
        rng = self._state.rng
        call_id = self._uuid()
        started = datetime.now(UTC)
        order = rng.randint(1000, 9999)
        call: dict[str, Any] = {
            "id": call_id,
            "orgId": "org-provider-sim",
            "type": "outboundPhoneCall",
            "status": "in-progress",
            "phoneCallProvider": "twilio",
            "phoneCallProviderId": self._state.new_id("CA"),
            "customer": {"number": f"+1555{rng.randint(0, 9_999_999):07d}"},
            "createdAt": _iso(started),
            "startedAt": _iso(started),
            "assistantId": "asst-provider-sim",
        }
        self._state.vapi_calls[call_id] = call
        self._state.record("vapi.call", id=call_id)
        await self._vapi_message({"type": "status-update", "status": "in-progress"}, call)
        await self._state.sleep_sim(duration_s)
        ended = started + timedelta(seconds=duration_s)
        reason = rng.choice(ENDED_REASONS)
        lines = _transcript(order)
        cost = round(0.05 * duration_s / 60 + 0.01, 4)
        call.update(status="ended", endedAt=_iso(ended), endedReason=reason, cost=cost)
        await self._vapi_message(
            {"type": "status-update", "status": "ended", "endedReason": reason}, call
        )
        await self._vapi_message(
            {
                "type": "end-of-call-report",
                "endedReason": reason,
                "cost": cost,
                "costs": [{"type": "model", "cost": cost}],
                "startedAt": call["startedAt"],
                "endedAt": call["endedAt"],
                "durationSeconds": duration_s,
                "analysis": {
                    "summary": f"Caller asked about order {order}.",
                    "successEvaluation": "true",
                },
                "artifact": {
                    "transcript": "\n".join(
                        f"{'AI' if r == 'agent' else 'User'}: {t}" for r, t in lines
                    ),
                    "recordingUrl": f"https://storage.vapi.invalid/{call_id}.wav",
                    "messages": [
                        {"role": "bot" if r == "agent" else "user", "message": t} for r, t in lines
                    ],
                },
            },
            call,
        )
        return call_id

    async def _vapi_message(self, message: dict[str, Any], call: dict[str, Any]) -> None:
        cfg = self._state.config.vapi
        body = json.dumps(
            {"message": {**message, "timestamp": int(time.time() * 1000), "call": dict(call)}},
            separators=(",", ":"),
        ).encode()
        key = f"{call['id']}:{message.get('status', message['type'])}"  # two status-updates
        await self._post(
            f"vapi.{message['type']}",
            cfg.webhook_url,
            body,
            vapi_headers(cfg.secret, body, cfg.auth_mode),
            key,
        )

    async def elevenlabs_call(self, duration_s: float) -> str:
        """One ElevenLabs conversation, reported by ``post_call_transcription`` when it ends."""
        cfg = self._state.config.elevenlabs
        rng = self._state.rng
        conversation_id = "conv_" + self._state.new_id("", 26)
        start = int(time.time())
        order = rng.randint(1000, 9999)
        data: dict[str, Any] = {
            "agent_id": "agent_provider_sim",
            "conversation_id": conversation_id,
            "status": "in-progress",
            "transcript": [],
            "metadata": {"start_time_unix_secs": start, "call_duration_secs": 0},
        }
        self._state.elevenlabs_conversations[conversation_id] = data
        self._state.record("elevenlabs.conversation", id=conversation_id)
        await self._state.sleep_sim(duration_s)
        step = duration_s / 4
        data.update(
            status="done",
            transcript=[
                {"role": r, "message": t, "time_in_call_secs": round(i * step)}
                for i, (r, t) in enumerate(_transcript(order))
            ],
            metadata={
                "start_time_unix_secs": start,
                "call_duration_secs": round(duration_s),
                "termination_reason": "end_call tool was called.",
                "phone_call": {
                    "type": "twilio",
                    "call_sid": self._state.new_id("CA"),
                    "agent_number": "+15550000001",
                    "external_number": f"+1555{rng.randint(0, 9_999_999):07d}",
                },
            },
            analysis={"call_successful": "success", "transcript_summary": f"Order {order} status."},
        )
        event = {
            "type": "post_call_transcription",
            "event_timestamp": int(time.time()),
            "data": data,
        }
        body = json.dumps(event, separators=(",", ":")).encode()
        signature = elevenlabs_signature(body, cfg.secret, int(time.time()))
        await self._post(
            "elevenlabs.post_call_transcription",
            cfg.webhook_url,
            body,
            {"ElevenLabs-Signature": signature},
            conversation_id,
        )
        return conversation_id

    async def scenario(self, provider: str, count: int, rate: float, duration_s: float) -> None:
        """``count`` calls at ``rate`` per second, each ``duration_s`` simulated seconds long."""
        run = self.vapi_call if provider == "vapi" else self.elevenlabs_call
        running = []
        for _ in range(count):
            running.append(self._state.spawn(run(duration_s)))
            if rate > 0:
                await asyncio.sleep(1 / rate)
        await asyncio.gather(*running, return_exceptions=True)
