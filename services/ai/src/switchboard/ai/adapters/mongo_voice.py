"""A business's voice profile as a MongoDB sub-document, and the channel routes of live calls.

Voice channels are routed per tenant: ``business_voice_channels`` is keyed by
``<tenant>|<kind>/<id>`` (an insert with a unique ``_id``, the one atomic claim FerretDB v1
gives), so one business *of a tenant* serves a channel; which tenant owns the channel at all
is the control plane's binding, checked on every call (``voice_lookup.py``).
"""

import json
from typing import Any

from switchboard.ai.adapters.mongo import Doc, sealed_from_doc, sealed_to_doc
from switchboard.ai.voice_models import Interval, ToolSpec, TransferRule, VoiceProfile

VOICE_CHANNELS = "business_voice_channels"


def route_id(tenant: str, channel: str) -> str:
    """The ``_id`` of a channel route (messaging or voice): one per tenant and channel."""
    return f"{tenant}|{channel}"


def _interval(doc: Doc) -> Interval:
    return Interval(int(doc["start"]), int(doc["end"]))


def _interval_doc(i: Interval) -> Doc:
    # Objects, not [start, end] pairs: FerretDB v1 refuses nested arrays.
    return {"start": i.start, "end": i.end}


def profile_to_doc(p: VoiceProfile) -> Doc:
    return {
        "channels": list(p.channels),
        "time_zone": p.time_zone,
        "hours": {day: [_interval_doc(i) for i in spans] for day, spans in p.hours.items()},
        "vapi_assistant_id": p.vapi_assistant_id,
        # Tenant-shaped JSON as text: its keys may hold "." or "$", which FerretDB refuses.
        "vapi_assistant": json.dumps(p.vapi_assistant) if p.vapi_assistant is not None else None,
        "variables": dict(p.variables),
        "transfer_rules": [
            {
                "days": list(r.days),
                "window": _interval_doc(r.window),
                "number": r.number,
                "message": r.message,
            }
            for r in p.transfer_rules
        ],
        "transfer_number": p.transfer_number,
        "transfer_message": p.transfer_message,
        "elevenlabs_allowed_overrides": list(p.elevenlabs_allowed_overrides),
        "elevenlabs_overrides": json.dumps(dict(p.elevenlabs_overrides)),
        "tools": [
            {
                "name": t.name,
                "kind": t.kind,
                "description": t.description,
                "url": t.url,
                "signing_secret": sealed_to_doc(t.signing_secret),
                "timeout_s": t.timeout_s,
            }
            for t in p.tools
        ],
    }


def profile_from_doc(doc: Doc | None) -> VoiceProfile:
    if not doc:
        return VoiceProfile()
    rules = tuple(
        TransferRule(
            tuple(r["days"]), _interval(r["window"]), r["number"], r.get("message") or None
        )
        for r in doc.get("transfer_rules") or ()
    )
    tools = tuple(
        ToolSpec(
            name=t["name"],
            kind=t["kind"],
            description=t.get("description") or "",
            url=t.get("url"),
            signing_secret=sealed_from_doc(t.get("signing_secret")),
            timeout_s=float(t.get("timeout_s", 3.0)),
        )
        for t in doc.get("tools") or ()
    )
    assistant: Any = doc.get("vapi_assistant")
    overrides: Any = doc.get("elevenlabs_overrides")
    return VoiceProfile(
        channels=tuple(doc.get("channels") or ()),
        time_zone=doc.get("time_zone") or "UTC",
        hours={
            day: tuple(_interval(i) for i in spans)
            for day, spans in (doc.get("hours") or {}).items()
        },
        vapi_assistant_id=doc.get("vapi_assistant_id"),
        vapi_assistant=json.loads(assistant) if assistant is not None else None,
        variables=dict(doc.get("variables") or {}),
        transfer_rules=rules,
        transfer_number=doc.get("transfer_number"),
        transfer_message=doc.get("transfer_message"),
        elevenlabs_allowed_overrides=tuple(doc.get("elevenlabs_allowed_overrides") or ()),
        elevenlabs_overrides=json.loads(overrides) if overrides else {},
        tools=tools,
    )
