"""Twilio voice and messaging callbacks: form-encoded, signed with X-Twilio-Signature.

Twilio retries only on connection failure unless the callback URL carries connection
overrides (see docs/operations/twilio-retries.md)."""

from collections.abc import Callable
from typing import Any

from switchboard.ingress.errors import SignatureInvalid
from switchboard.ingress.mappers import Outgoing, twilio
from switchboard.ingress.verify import FormParams, twilio_signature_ok
from switchboard.ingress.webhooks.answers import EMPTY_TWIML, NO_CONTENT, FixedAnswer
from switchboard.ingress.webhooks.common import (
    FORM,
    AnyRequest,
    Wiring,
    accept,
    parse_form,
    raw_header,
    read_body,
    signed_url,
    wiring,
)
from switchboard.ingress.webhooks.endpoint import WebhookDoc, webhook


async def _verified(request: AnyRequest, wired: Wiring) -> tuple[FormParams, str]:
    """The form fields and the tenant of the account that signed them (403 otherwise)."""
    params = parse_form(await read_body(request, FORM))
    account = wired.settings.twilio.accounts.get(params.first("AccountSid") or "")
    signature = raw_header(request, b"x-twilio-signature")
    if account is None or not twilio_signature_ok(
        signed_url(wired.settings.http, request),
        params,
        signature,
        account.auth_tokens,
    ):
        raise SignatureInvalid(detail="X-Twilio-Signature does not verify")
    return params, account.tenant


async def _handle(
    route: str, request: AnyRequest, to_event: Callable[[FormParams, str], Outgoing]
) -> None:
    wired = wiring(request)
    params, tenant = await _verified(request, wired)
    await accept(route, wired.delivery, [to_event(params, tenant)])


def _doc(summary: str, answer: FixedAnswer[Any], answer_description: str) -> WebhookDoc:
    return WebhookDoc(summary, "twilio", FORM, ["X-Twilio-Signature"], answer, answer_description)


_DURABLE = "Every event is durable; no body"


@webhook("/webhooks/twilio/voice/status", _doc("Call status / AMD callback", NO_CONTENT, _DURABLE))
async def voice_status(request: AnyRequest) -> FixedAnswer[None]:
    """A call status (or async AMD) callback → ``call.events`` keyed by CallSid; 204."""
    await _handle("twilio.voice.status", request, twilio.voice_status)
    return NO_CONTENT


@webhook(
    "/webhooks/twilio/messaging",
    _doc("Inbound SMS/MMS", EMPTY_TWIML, "Empty TwiML: no auto-reply (replies go through the API)"),
)
async def messaging(request: AnyRequest) -> FixedAnswer[str]:
    """An inbound message → ``message.inbound``; answers empty TwiML (no auto-reply)."""
    await _handle("twilio.messaging", request, twilio.inbound_sms)
    return EMPTY_TWIML


@webhook("/webhooks/twilio/messaging/status", _doc("SMS delivery status", NO_CONTENT, _DURABLE))
async def messaging_status(request: AnyRequest) -> FixedAnswer[None]:
    """A delivery status of a sent message → ``message.status``; 204."""
    await _handle("twilio.messaging.status", request, twilio.sms_status)
    return NO_CONTENT


ROUTES = [voice_status, messaging, messaging_status]
