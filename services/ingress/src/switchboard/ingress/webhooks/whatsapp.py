"""WhatsApp Cloud API: the subscription check (GET) and signed notifications (POST)."""

import json
from typing import Annotated, Final

import structlog
from litestar import Controller, Response, get, post
from litestar.params import QueryParameter
from litestar.status_codes import HTTP_200_OK

from switchboard.ingress.directory import OTHER_ACCOUNT
from switchboard.ingress.directory import owner_of as owner_of_channel
from switchboard.ingress.errors import SignatureInvalid
from switchboard.ingress.mappers import Owner, whatsapp
from switchboard.ingress.metrics import WHATSAPP_SKIPPED
from switchboard.ingress.verify import hub_signature_ok
from switchboard.ingress.webhooks.answers import EMPTY_JSON
from switchboard.ingress.webhooks.common import (
    JSON,
    AnyRequest,
    accept,
    raw_header,
    read_body,
    wiring,
)
from switchboard.ingress.webhooks.endpoint import WebhookDoc, documented, operation

NOTIFY = WebhookDoc(
    "Messages and statuses",
    "whatsapp",
    JSON,
    ["X-Hub-Signature-256"],
    EMPTY_JSON,
    "Every event of the batch is durable",
)
NOTIFY_DOC = """One event per message/status: inbound → ``message.inbound``, statuses →
``message.status``, keyed by conversation; all durable before the 200. A verified batch is
never refused for its content: parts that cannot become events are logged and counted."""

log = structlog.get_logger(__name__)
_LOGGED_CHARS: Final = 4000


def _set_aside(skipped: list[whatsapp.Skipped]) -> None:
    """Log (with the payload, so nothing Meta sent is lost without a trace) and count."""
    for part in skipped:
        WHATSAPP_SKIPPED.labels(part.part).inc()
        log.warning(
            "whatsapp part not published",
            part=part.part,
            reason=part.reason,
            payload=json.dumps(part.payload, default=str)[:_LOGGED_CHARS],
        )


class WhatsAppWebhooks(Controller):
    """Meta retries failed deliveries for days, so a batch is accepted whole or not at all, and a
    verified one is never refused for what it contains."""

    path = "/webhooks/whatsapp"
    tags = ("whatsapp",)

    @get("/", summary="Meta subscription verification", sync_to_thread=False)
    def verify(
        self,
        request: AnyRequest,
        mode: Annotated[str | None, QueryParameter(name="hub.mode")] = None,
        token: Annotated[str | None, QueryParameter(name="hub.verify_token")] = None,
        challenge: Annotated[str | None, QueryParameter(name="hub.challenge")] = None,
    ) -> Response[str]:
        """Echo ``hub.challenge`` when the verify token matches; 403 otherwise."""
        directory = wiring(request).directory
        directory.require_ready()
        if (
            mode != "subscribe"
            or not challenge
            or not directory.whatsapp_verify_token_ok(token.encode() if token else None)
        ):
            raise SignatureInvalid(detail="hub.verify_token does not match")
        return Response(challenge, media_type="text/plain", status_code=HTTP_200_OK)

    @post(
        "/",
        status_code=HTTP_200_OK,
        summary="Messages and statuses",
        opt=documented(operation(NOTIFY, operation_id="whatsapp_notify", description=NOTIFY_DOC)),
    )
    async def notify(
        self,
        request: AnyRequest,
    ) -> Response[dict[str, str]]:
        wired = wiring(request)
        body = await read_body(request, JSON)
        directory = wired.directory
        directory.require_ready()
        try:
            payload = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise SignatureInvalid(detail="not JSON: no WABA names the app") from exc
        # The batch's WABA picks the app: a forged request costs the HMACs of that WABA's
        # app(s), not one per app configured.
        signed = raw_header(request, b"x-hub-signature-256")
        app = next(
            (
                a
                for a in directory.whatsapp_apps(whatsapp.waba_ids(payload))
                if hub_signature_ok(body, signed, a.app_secrets)
            ),
            None,
        )
        if app is None:
            raise SignatureInvalid(detail="X-Hub-Signature-256 does not verify")

        def owner_of(waba: str | None, phone_number_id: str) -> Owner:
            channel = directory.channel("whatsapp", phone_number_id)
            if channel is not None and channel.waba_id != waba:
                return Owner(None, OTHER_ACCOUNT, f"whatsapp/{phone_number_id}")
            return owner_of_channel(app, channel, "whatsapp", phone_number_id)

        parsed = whatsapp.notification(payload, owner_of)
        if parsed.skipped:
            _set_aside(parsed.skipped)
        await accept("whatsapp", wired.delivery, parsed.events)
        return EMPTY_JSON
