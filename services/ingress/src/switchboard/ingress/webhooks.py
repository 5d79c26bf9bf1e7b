"""Webhook routes: read raw body → verify → typed event → publish → answer.

Verification runs over the raw bytes before anything is parsed into a model, and the
answer is sent only after the broker acknowledged the event.
"""

from time import perf_counter
from urllib.parse import parse_qsl

from litestar import Controller, Request, Response, post
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.params import SkipValidation
from litestar.status_codes import HTTP_204_NO_CONTENT

from switchboard.common.errors import PublishError
from switchboard.ingress import events
from switchboard.ingress.errors import (
    BrokerUnavailable,
    SignatureInvalid,
    UnsupportedMedia,
    WebhookRejected,
)
from switchboard.ingress.metrics import PUBLISH_SECONDS, WEBHOOKS
from switchboard.ingress.publish import EventPublisher
from switchboard.ingress.settings import IngressSettings
from switchboard.ingress.verify import FormParams, twilio_signature_ok

FORM = "application/x-www-form-urlencoded"


def public_url(settings: IngressSettings, request: Request[object, object, State]) -> str:
    """The URL the provider called: configured public base + path + the raw query, untouched."""
    url = str(settings.http.public_base_url).rstrip("/") + request.url.path
    query = request.scope.get("query_string", b"")
    return f"{url}?{query.decode('latin-1')}" if query else url


async def read_form(request: Request[object, object, State]) -> tuple[bytes, FormParams]:
    """The raw body and its form fields (repeated names kept)."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type != FORM:
        raise UnsupportedMedia(detail=f"expected {FORM}, got {media_type or 'nothing'}")
    body = await request.body()
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError as exc:
        raise UnsupportedMedia(detail="body is not UTF-8") from exc
    return body, FormParams.from_pairs(pairs)


class TwilioWebhooks(Controller):
    """Twilio voice and messaging callbacks (form-encoded, X-Twilio-Signature)."""

    path = "/webhooks/twilio"

    @post("/voice/status", status_code=HTTP_204_NO_CONTENT)
    async def voice_status(
        self,
        request: Request[object, object, State],
        settings: SkipValidation[NamedDependency[IngressSettings]],
        publisher: SkipValidation[NamedDependency[EventPublisher]],
    ) -> Response[None]:
        """A call status callback → ``call.events`` keyed by CallSid; 204 once Kafka acked it."""
        route = "twilio.voice.status"
        try:
            _, params = await read_form(request)
            account = settings.twilio.accounts.get(params.first("AccountSid") or "")
            if account is None or not twilio_signature_ok(
                public_url(settings, request),
                params,
                request.headers.get("x-twilio-signature"),
                account.auth_tokens,
            ):
                raise SignatureInvalid(detail="X-Twilio-Signature does not verify")
            outgoing = events.twilio_call_status(params, tenant=account.tenant)
            started = perf_counter()
            try:
                await publisher.publish(outgoing)
            except PublishError as exc:
                raise BrokerUnavailable(
                    detail="event not durable yet; retry", headers={"Retry-After": "5"}
                ) from exc
            PUBLISH_SECONDS.labels(outgoing.topic).observe(perf_counter() - started)
        except WebhookRejected as exc:
            WEBHOOKS.labels(route, f"rejected_{exc.reason}").inc()
            raise
        WEBHOOKS.labels(route, "published").inc()
        return Response(None, status_code=HTTP_204_NO_CONTENT)
