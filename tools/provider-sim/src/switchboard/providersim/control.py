"""The control and inspection API under ``/_sim``: configure, run scenarios, look, reset."""

import base64
import json
import statistics
from collections import Counter
from collections.abc import Coroutine
from typing import Any

from litestar import Controller, Request, Response, delete, get, patch, post, put
from litestar.datastructures import State
from litestar.params import FromPath, FromQuery, JSONBody
from pydantic import BaseModel, Field, ValidationError

from switchboard.providersim.deps import CallsDep, SimDep, VoiceDep, WhatsAppDep
from switchboard.providersim.settings import SimConfig
from switchboard.providersim.state import DELIVERY_COLUMNS, SimState
from switchboard.providersim.twilio_api import call_json

AnyRequest = Request[Any, Any, State]


class WhatsAppScenario(BaseModel):
    """Inbound WhatsApp traffic: ``count`` messages from ``users`` users at ``rate`` per second."""

    count: int = Field(ge=1)
    users: int = Field(default=1, ge=1)
    rate: float = Field(default=10.0, ge=0)
    """Messages per second; 0 sends as fast as possible."""
    phone_number_id: str | None = None
    """Default: the first configured number."""
    text: str = "Hello from a simulated user"
    numbered: bool = True
    """Append `` #<n>`` to each text (distinct messages); false sends ``text`` as it is."""


class WhatsAppInbound(BaseModel):
    """Messages of any type from one user, sent as one signed webhook: each item is the Meta
    message without ``from``/``id`` (``{"type": "location", "location": {...}}``), optionally
    with ``timestamp`` (unix seconds; an old one makes an old window) and ``context``."""

    wa_id: str = Field(min_length=1)
    name: str = "Sim User"
    phone_number_id: str | None = None
    """Default: the first configured number."""
    messages: list[dict[str, Any]] = Field(min_length=1)


class WhatsAppMedia(BaseModel):
    """A file the Graph media endpoints serve (as if a user had sent it)."""

    mime_type: str = Field(min_length=1)
    data_base64: str


class WhatsAppErrors(BaseModel):
    """Meta error codes the next sends answer, in order (e.g. 130429, 131026, 190)."""

    codes: list[int] = Field(min_length=1)


class CallsScenario(BaseModel):
    """``count`` Twilio calls created by the simulator itself at ``rate`` per second."""

    count: int = Field(ge=1)
    rate: float = Field(default=10.0, ge=0)
    """Calls per second; 0 creates them all at once (the account's limits still apply)."""
    status_callback: str
    """Where every status callback of these calls goes (e.g. the ingress's route)."""
    account_sid: str | None = None
    """Default: the first configured account."""
    first_number: int = Field(default=0, ge=0)
    """The calls go to ``+1777`` + 7 digits counted from here."""


class VoiceScenario(BaseModel):
    """``count`` Vapi or ElevenLabs calls started at ``rate`` per second."""

    count: int = Field(ge=1)
    rate: float = Field(default=10.0, ge=0)
    duration_s: float = Field(default=30.0, ge=0)
    """Simulated seconds each call lasts (scaled by ``time_scale``)."""


def merge(base: dict[str, Any], patch_: dict[str, Any]) -> dict[str, Any]:
    """``patch_`` deep-merged into ``base`` (objects merge, everything else replaces)."""
    merged = dict(base)
    for key, value in patch_.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[round(q) - 1]


def bad_request(detail: str) -> Response[Any]:
    return Response({"error": detail}, status_code=400)


async def body_of(request: AnyRequest) -> dict[str, Any]:
    """The JSON object sent (``{}`` for an empty body); ValueError otherwise."""
    raw = await request.body()
    data = json.loads(raw) if raw.strip() else {}
    if not isinstance(data, dict):
        raise ValueError("expected a JSON object")
    return data


def start_scenario(sim: SimState, kind: str, coro: Coroutine[Any, Any, None]) -> dict[str, Any]:
    name = f"{kind}-{len(sim.scenarios) + 1}"
    sim.scenarios[name] = sim.spawn(coro)
    sim.record("scenario.started", name=name)
    return {"scenario": name}


class SimConfigControl(Controller):
    """Read, change and reset the runtime configuration."""

    path = "/_sim"
    include_in_schema = False

    @get("/config")
    async def get_config(self, sim: SimDep) -> dict[str, Any]:
        return sim.config.model_dump(mode="json")

    @patch("/config")
    async def patch_config(self, request: AnyRequest, sim: SimDep) -> Response[Any]:
        """Deep-merge a partial config (e.g. ``{"faults": {"duplicate_rate": 1}}``)."""
        try:
            data = merge(sim.config.model_dump(mode="json"), await body_of(request))
            sim.config = SimConfig.model_validate(data)
        except (ValueError, ValidationError) as exc:
            return bad_request(str(exc))
        return Response(sim.config.model_dump(mode="json"))

    @put("/config")
    async def put_config(self, request: AnyRequest, sim: SimDep) -> Response[Any]:
        """Replace the whole config (unset fields take their defaults)."""
        try:
            sim.config = SimConfig.model_validate(await body_of(request))
        except (ValueError, ValidationError) as exc:
            return bad_request(str(exc))
        return Response(sim.config.model_dump(mode="json"))

    @post("/reset", status_code=200)
    async def reset(self, request: AnyRequest, sim: SimDep) -> Response[Any]:
        """Stop everything and forget the run; a JSON body, if any, patches the config first."""
        try:
            data = await body_of(request)
            config = SimConfig.model_validate(merge(sim.config.model_dump(mode="json"), data))
        except (ValueError, ValidationError) as exc:
            return bad_request(str(exc))
        await sim.reset(config)
        return Response({"reset": True})


class SimInspection(Controller):
    """What the simulator saw and did."""

    path = "/_sim"
    include_in_schema = False

    @get("/stats")
    async def stats(self, sim: SimDep) -> dict[str, Any]:
        latencies = sim.webhook_latencies_ms
        return {
            "counters": dict(sim.counters),
            "pending_tasks": sim.busy_tasks,
            "calls": {
                "total": len(sim.calls),
                "by_status": _count(c.status for c in sim.calls.values()),
            },
            "webhook_latency_ms": {
                "count": len(latencies),
                "p50": percentile(latencies, 50),
                "p99": percentile(latencies, 99),
            },
            "limits": {sid: lim.report() for sid, lim in sim.limiters.items()},
        }

    @get("/limits")
    async def limits(self, sim: SimDep) -> dict[str, Any]:
        return {sid: lim.report() for sid, lim in sim.limiters.items()}

    @get("/log")
    async def log(
        self, sim: SimDep, kind: FromQuery[str | None] = None, limit: FromQuery[int] = 10_000
    ) -> list[dict[str, Any]]:
        """The event log, optionally only kinds starting with ``kind``."""
        rows = [r for r in sim.log if kind is None or str(r["kind"]).startswith(kind)]
        return rows[-limit:]

    @get("/calls")
    async def calls(self, sim: SimDep) -> list[dict[str, Any]]:
        return [_call_view(c) for c in sim.calls.values()]

    @get("/calls/summary")
    async def calls_summary(
        self, sim: SimDep, account_sid: FromQuery[str | None] = None
    ) -> dict[str, Any]:
        """Counts for large runs (``/calls`` lists every call): calls per number, by status;
        only ``account_sid``'s calls when given."""
        calls = [c for c in sim.calls.values() if account_sid in (None, c.account_sid)]
        per_number = Counter(c.to for c in calls)
        repeated = {n: k for n, k in per_number.items() if k > 1}
        return {
            "calls": len(calls),
            "numbers": len(per_number),
            "max_per_number": max(per_number.values(), default=0),
            "repeated_numbers": len(repeated),
            "repeated_sample": dict(list(repeated.items())[:20]),
            "by_status": dict(Counter(c.status for c in calls)),
        }

    @get("/calls/compact")
    async def calls_compact(
        self, sim: SimDep, account_sid: FromQuery[str | None] = None
    ) -> dict[str, Any]:
        """Every call (of ``account_sid`` when given) as one short row each, for runs too large
        for ``/calls``: times are Unix seconds, ``ended_at`` null while the call is live."""
        return {
            "columns": list(CALL_COLUMNS),
            "rows": [
                _call_row(c)
                for c in sim.calls.values()
                if account_sid is None or c.account_sid == account_sid
            ],
        }

    @get("/deliveries")
    async def deliveries(
        self, sim: SimDep, offset: FromQuery[int] = 0, limit: FromQuery[int] = 100_000
    ) -> dict[str, Any]:
        """One row per webhook (kind and key, first sent, first acknowledged, attempts, last
        HTTP status) in the order first sent; page with ``offset``/``limit``."""
        records = list(sim.deliveries.values())[offset : offset + limit]
        return {
            "total": len(sim.deliveries),
            "columns": list(DELIVERY_COLUMNS),
            "rows": [r.row() for r in records],
        }

    @get("/calls/{sid:str}")
    async def call(self, sid: FromPath[str], sim: SimDep) -> Response[Any]:
        found = sim.calls.get(sid)
        if found is None:
            return Response({"error": "no such call"}, status_code=404)
        return Response(_call_view(found))

    @get("/messages")
    async def messages(self, sim: SimDep) -> dict[str, Any]:
        return {
            "twilio_sms": list(sim.messages.values()),
            "whatsapp_inbound": sim.whatsapp_inbound,
            "whatsapp_replies": sim.whatsapp_replies,
            "whatsapp_reads": sim.whatsapp_reads,
            "whatsapp_rejected": sim.whatsapp_rejected,
        }

    @get("/voice-agents")
    async def voice_agents(self, sim: SimDep) -> dict[str, Any]:
        return {
            "vapi": list(sim.vapi_calls.values()),
            "elevenlabs": list(sim.elevenlabs_conversations.values()),
        }

    @get("/openai/requests")
    async def openai_requests(self, sim: SimDep) -> list[dict[str, Any]]:
        return sim.openai_requests


class Scenarios(Controller):
    """Start, watch and stop traffic the simulator generates on its own."""

    path = "/_sim/scenarios"
    include_in_schema = False

    @post("/whatsapp", status_code=202)
    async def whatsapp_scenario(
        self, data: JSONBody[WhatsAppScenario], sim: SimDep, whatsapp: WhatsAppDep
    ) -> dict[str, Any]:
        number = data.phone_number_id or next(iter(sim.config.whatsapp.phone_numbers))
        run = whatsapp.inbound_scenario(
            number, data.count, data.users, data.rate, data.text, numbered=data.numbered
        )
        return start_scenario(sim, "whatsapp", run)

    @post("/twilio-calls", status_code=202)
    async def calls_scenario(
        self, data: JSONBody[CallsScenario], sim: SimDep, calls: CallsDep
    ) -> Response[Any]:
        account = data.account_sid or next(iter(sim.config.twilio_accounts))
        if account not in sim.config.twilio_accounts:
            return bad_request(f"unknown account {account}")
        run = calls.scenario(
            account, data.count, data.rate, data.status_callback, first_number=data.first_number
        )
        return Response(start_scenario(sim, "twilio-calls", run), status_code=202)

    @post("/{provider:str}", status_code=202)
    async def voice_scenario(
        self, provider: FromPath[str], data: JSONBody[VoiceScenario], sim: SimDep, voice: VoiceDep
    ) -> Response[Any]:
        if provider not in ("vapi", "elevenlabs"):
            return Response({"error": f"unknown scenario {provider}"}, status_code=404)
        run = voice.scenario(provider, data.count, data.rate, data.duration_s)
        return Response(start_scenario(sim, provider, run), status_code=202)

    @get("/")
    async def scenarios(self, sim: SimDep) -> dict[str, Any]:
        return {name: _scenario_state(task) for name, task in sim.scenarios.items()}

    @delete("/{name:str}", status_code=200)
    async def stop_scenario(self, name: FromPath[str], sim: SimDep) -> Response[Any]:
        task = sim.scenarios.get(name)
        if task is None:
            return Response({"error": "no such scenario"}, status_code=404)
        task.cancel()
        return Response({"stopped": name})


class WhatsAppControl(Controller):
    """Drive the simulated WhatsApp users: messages of any type, media, errors to answer."""

    path = "/_sim/whatsapp"
    include_in_schema = False

    @post("/inbound", status_code=202)
    async def inbound(
        self, data: JSONBody[WhatsAppInbound], sim: SimDep, whatsapp: WhatsAppDep
    ) -> dict[str, Any]:
        number = data.phone_number_id or next(iter(sim.config.whatsapp.phone_numbers))
        messages = [whatsapp.message_of(data.wa_id, m) for m in data.messages]
        await whatsapp.send_inbound(number, [(data.wa_id, data.name, m) for m in messages])
        return {"ids": [m["id"] for m in messages]}

    @post("/media", status_code=201)
    async def media(self, data: JSONBody[WhatsAppMedia], sim: SimDep) -> Response[Any]:
        try:
            content = base64.b64decode(data.data_base64, validate=True)
        except ValueError as exc:
            return bad_request(f"data_base64: {exc}")
        media_id = str(1_000_000_000_000_000 + len(sim.whatsapp_media) + 1)
        sim.whatsapp_media[media_id] = (data.mime_type, content)
        return Response({"id": media_id}, status_code=201)

    @post("/errors", status_code=200)
    async def errors(self, data: JSONBody[WhatsAppErrors], sim: SimDep) -> dict[str, Any]:
        sim.whatsapp_errors.extend(data.codes)
        return {"queued": list(sim.whatsapp_errors)}


CONTROLLERS = (SimConfigControl, SimInspection, Scenarios, WhatsAppControl)


def _count(values: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for v in values:
        out[v] = out.get(v, 0) + 1
    return out


def _scenario_state(task: Any) -> str:
    if not task.done():
        return "running"
    return "stopped" if task.cancelled() else "done"


CALL_COLUMNS = (
    "sid",
    "account_sid",
    "to",
    "from",
    "status",
    "created_at",
    "ended_at",
    "drop_final",
)


def _call_row(call: Any) -> list[Any]:
    ended = call.ended_at.timestamp() if call.ended_at is not None else None
    return [
        call.sid,
        call.account_sid,
        call.to,
        call.from_,
        call.status,
        call.created_at.timestamp(),
        ended,
        call.drop_final,
    ]


def _call_view(call: Any) -> dict[str, Any]:
    return {
        **call_json(call),
        "plan": {
            "outcome": call.outcome,
            "ring_s": call.ring_s,
            "talk_s": call.talk_s,
            "answered_by": call.answered_by,
            "out_of_order": call.hold_callbacks,
            "drop_final": call.drop_final,
        },
        "status_callback": call.status_callback,
        "status_events": list(call.status_events),
        "callbacks_sent": call.sequence,
        "machine_detection": call.machine_detection,
        "record": call.record,
        "recording_callback": call.recording_callback,
        "twiml_updates": list(call.twiml_updates),
    }
