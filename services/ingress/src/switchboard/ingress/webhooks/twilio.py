"""Twilio voice and messaging callbacks: form-encoded, signed with X-Twilio-Signature."""

from collections.abc import Callable

from litestar import Controller, Response, post
from litestar.status_codes import HTTP_200_OK, HTTP_204_NO_CONTENT

from switchboard.ingress.errors import SignatureInvalid
from switchboard.ingress.events import Outgoing, twilio
from switchboard.ingress.verify import FormParams, twilio_signature_ok
from switchboard.ingress.webhooks.answers import EMPTY_TWIML, NO_CONTENT, NO_CONTENT_DOC
from switchboard.ingress.webhooks.common import (
    FORM,
    AnyRequest,
    Wiring,
    accept,
    header,
    parse_form,
    read_body,
    signed_url,
    wiring,
)


async def _verified(request: AnyRequest, wired: Wiring) -> tuple[FormParams, str]:
    """The form fields and the tenant of the account that signed them (403 otherwise)."""
    params = parse_form(await read_body(request, FORM))
    account = wired.settings.twilio.accounts.get(params.first("AccountSid") or "")
    signature = header(request, b"x-twilio-signature")
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


class TwilioWebhooks(Controller):
    """Twilio callbacks. Twilio retries only on connection failure unless the callback URL
    carries connection overrides (see docs/operations/twilio-retries.md)."""

    path = "/webhooks/twilio"
    tags = ("twilio",)

    @post(
        "/voice/status",
        status_code=HTTP_204_NO_CONTENT,
        summary="Call status / AMD callback",
        responses=NO_CONTENT_DOC,
    )
    async def voice_status(
        self,
        request: AnyRequest,
    ) -> Response[None]:
        """A call status (or async AMD) callback → ``call.events`` keyed by CallSid; 204."""
        await _handle("twilio.voice.status", request, twilio.voice_status)
        return NO_CONTENT

    @post("/messaging", status_code=HTTP_200_OK, summary="Inbound SMS/MMS")
    async def messaging(
        self,
        request: AnyRequest,
    ) -> Response[str]:
        """An inbound message → ``message.inbound``; answers empty TwiML (no auto-reply)."""
        await _handle("twilio.messaging", request, twilio.inbound_sms)
        return EMPTY_TWIML

    @post(
        "/messaging/status",
        status_code=HTTP_204_NO_CONTENT,
        summary="SMS delivery status",
        responses=NO_CONTENT_DOC,
    )
    async def messaging_status(
        self,
        request: AnyRequest,
    ) -> Response[None]:
        """A delivery status of a sent message → ``message.status``; 204."""
        await _handle("twilio.messaging.status", request, twilio.sms_status)
        return NO_CONTENT
