"""Twilio call recordings: made when an answered call with ``Record=true`` ends and announced
by a signed ``RecordingStatusCallback`` (the REST side: ``twilio_recordings_api.py``)."""

from email.utils import format_datetime
from typing import Any

from switchboard.providersim.state import CallRecord, SimState, utcnow

API_VERSION = "2010-04-01"
PUBLIC_API = "https://api.twilio.com"


def new_recording(state: SimState, call: CallRecord) -> dict[str, Any]:
    """The recording of ``call`` (just ended, answered), kept in ``state.recordings``."""
    sid = state.new_id("RE")
    path = f"/{API_VERSION}/Accounts/{call.account_sid}/Recordings/{sid}"
    started = call.answered_at or call.started_at or utcnow()
    recording = {
        "account_sid": call.account_sid,
        "api_version": API_VERSION,
        "call_sid": call.sid,
        "channels": 1,
        "date_created": format_datetime(started),
        "duration": str(call.duration_s or 0),
        "sid": sid,
        "source": "OutboundAPI",
        "start_time": format_datetime(started),
        "status": "completed",
        "uri": f"{path}.json",
        "media_url": f"{PUBLIC_API}{path}",
    }
    state.recordings[sid] = recording
    state.record("twilio.recording.created", sid=sid, call_sid=call.sid)
    return recording


def callback_params(recording: dict[str, Any]) -> dict[str, str]:
    """What Twilio posts to ``RecordingStatusCallback`` for a completed recording."""
    return {
        "AccountSid": recording["account_sid"],
        "CallSid": recording["call_sid"],
        "RecordingSid": recording["sid"],
        "RecordingUrl": recording["media_url"],
        "RecordingStatus": recording["status"],
        "RecordingDuration": recording["duration"],
        "RecordingChannels": str(recording["channels"]),
        "RecordingSource": recording["source"],
        "RecordingStartTime": recording["start_time"],
        "ErrorCode": "0",
    }
