"""Twilio's recording status callback (``RecordingStatusCallback`` of the calls the dialer
places with ``Record=true``): signed like every Twilio callback, verified the same way. Its
form carries no number, so the tenant's number is the ``?channel=`` of the callback URL the
dialer gives (signed by Twilio with the rest of the URL), as for async AMD."""

from switchboard.ingress.mappers import twilio_recordings
from switchboard.ingress.verify import FormParams
from switchboard.ingress.webhooks.answers import NO_CONTENT, FixedAnswer
from switchboard.ingress.webhooks.common import AnyRequest
from switchboard.ingress.webhooks.endpoint import webhook
from switchboard.ingress.webhooks.twilio import _DURABLE, _doc, _handle


@webhook(
    "/webhooks/twilio/voice/recording",
    _doc("Call recording status callback", NO_CONTENT, _DURABLE),
)
async def recording_status(request: AnyRequest) -> FixedAnswer[None]:
    """A recording's status → ``call.events`` keyed by CallSid; 204."""
    await _handle("twilio.voice.recording", request, twilio_recordings.recording_status, _no_number)
    return NO_CONTENT


def _no_number(_: FormParams) -> None:
    return None  # the recording form names no number: ``?channel=`` does


ROUTES = [recording_status]
