"""Twilio's recording status callback → ``switchboard.call.recording.v1``.

Twilio posts ``AccountSid``, ``CallSid``, ``RecordingSid``, ``RecordingUrl``,
``RecordingStatus`` (``in-progress``, ``completed``, ``absent``, ``failed``),
``RecordingDuration`` (s), ``RecordingChannels``, ``RecordingSource``, ``RecordingStartTime``
(RFC 2822) and ``ErrorCode``; one callback per requested status."""

from switchboard.common.events import CallRecordingStatus
from switchboard.common.topics import CALL_EVENTS
from switchboard.ingress.mappers import Outgoing
from switchboard.ingress.mappers.twilio import _event, _int, _raw, _require, _time
from switchboard.ingress.verify import FormParams


def recording_status(params: FormParams, tenant: str | None) -> Outgoing:
    """One recording status of a call, keyed by CallSid (the call's other events' key)."""
    call_sid, recording_sid, status = _require(params, "CallSid", "RecordingSid", "RecordingStatus")
    event = _event(
        CallRecordingStatus,
        {
            "provider": "twilio",
            "call_id": call_sid,
            "account_id": params.first("AccountSid"),
            "recording_id": recording_sid,
            "status": status,
            "url": params.first("RecordingUrl") or None,
            "duration_s": _int(params.first("RecordingDuration")),
            "channels": _int(params.first("RecordingChannels")),
            "source": params.first("RecordingSource") or None,
            "occurred_at": _time(params.first("RecordingStartTime")),
            "raw": _raw(params),
        },
        (recording_sid, "recording", status),
        call_sid,
        tenant,
    )
    return Outgoing(CALL_EVENTS, call_sid, event)
