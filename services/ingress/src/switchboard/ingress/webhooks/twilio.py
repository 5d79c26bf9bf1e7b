"""Twilio voice and messaging callbacks: form-encoded, signed with X-Twilio-Signature.

Twilio retries only on connection failure unless the callback URL carries connection
overrides (see docs/operations/twilio-retries.md).

The account is the form's AccountSid (its auth tokens verify the signature); the tenant is the
owner of the tenant's number in the callback (:func:`call_number`; To of an inbound message,
From of a sent message's status), so on an account several tenants share, each tenant's
callbacks and its customers' replies (STOP included) are its own."""

from collections.abc import Callable
from typing import Any, Final

from switchboard.common.config import TwilioAccount
from switchboard.ingress.errors import SignatureInvalid
from switchboard.ingress.mappers import Outgoing, owned, twilio
from switchboard.ingress.verify import FormParams, twilio_signature_ok
from switchboard.ingress.webhooks.answers import EMPTY_TWIML, NO_CONTENT, FixedAnswer
from switchboard.ingress.webhooks.common import (
    FORM,
    AnyRequest,
    Wiring,
    accept,
    parse_form,
    query_value,
    raw_header,
    read_body,
    signed_url,
    wiring,
)
from switchboard.ingress.webhooks.endpoint import WebhookDoc, webhook

CHANNEL_PARAM: Final = "channel"
"""Query parameter naming the tenant's number on callback URLs whose form carries none."""


async def _verified(request: AnyRequest, wired: Wiring) -> tuple[FormParams, TwilioAccount]:
    """The form fields and the account that signed them (403 otherwise)."""
    params = parse_form(await read_body(request, FORM))
    directory = wired.directory
    directory.require_ready()
    account = directory.twilio(params.first("AccountSid") or "")
    signature = raw_header(request, b"x-twilio-signature")
    if account is None or not twilio_signature_ok(
        signed_url(wired.settings, request),
        params,
        signature,
        account.auth_tokens,
    ):
        raise SignatureInvalid(detail="X-Twilio-Signature does not verify")
    return params, account


def call_number(params: FormParams) -> str | None:
    """The number of the call that is a tenant's: the caller ID of an outbound call, the
    number called of an inbound one."""
    direction = params.first("Direction")
    if not direction:
        return None  # async AMD callbacks carry no numbers (see _handle)
    return params.first("From" if direction.startswith("outbound") else "To")


def _to(params: FormParams) -> str | None:
    return params.first("To")  # an inbound message: the tenant's number received it


def _from(params: FormParams) -> str | None:
    return params.first("From")  # a sent message's status: the tenant's number sent it


async def _handle(
    route: str,
    request: AnyRequest,
    to_event: Callable[[FormParams, str | None], Outgoing],
    number_of: Callable[[FormParams], str | None],
) -> None:
    wired = wiring(request)
    params, account = await _verified(request, wired)
    # A callback without the number (async AMD) names it in its URL, which Twilio signed:
    # ``?channel=+1415…`` on the callback URL the dialer gives.
    number = number_of(params) or query_value(request, CHANNEL_PARAM)
    owner = wired.directory.owner(account, "phone", number)
    await accept(route, wired.delivery, [owned(to_event(params, owner.tenant), owner)])


def _doc(summary: str, answer: FixedAnswer[Any], answer_description: str) -> WebhookDoc:
    return WebhookDoc(summary, "twilio", FORM, ["X-Twilio-Signature"], answer, answer_description)


_DURABLE = "Every event is durable; no body"


@webhook("/webhooks/twilio/voice/status", _doc("Call status / AMD callback", NO_CONTENT, _DURABLE))
async def voice_status(request: AnyRequest) -> FixedAnswer[None]:
    """A call status (or async AMD) callback → ``call.events`` keyed by CallSid; 204."""
    await _handle("twilio.voice.status", request, twilio.voice_status, call_number)
    return NO_CONTENT


@webhook(
    "/webhooks/twilio/messaging",
    _doc("Inbound SMS/MMS", EMPTY_TWIML, "Empty TwiML: no auto-reply (replies go through the API)"),
)
async def messaging(request: AnyRequest) -> FixedAnswer[str]:
    """An inbound message → ``message.inbound``; answers empty TwiML (no auto-reply)."""
    await _handle("twilio.messaging", request, twilio.inbound_sms, _to)
    return EMPTY_TWIML


@webhook("/webhooks/twilio/messaging/status", _doc("SMS delivery status", NO_CONTENT, _DURABLE))
async def messaging_status(request: AnyRequest) -> FixedAnswer[None]:
    """A delivery status of a sent message → ``message.status``; 204."""
    await _handle("twilio.messaging.status", request, twilio.sms_status, _from)
    return NO_CONTENT


ROUTES = [voice_status, messaging, messaging_status]
