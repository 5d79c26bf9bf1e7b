"""Voice-agent platforms: Vapi server messages and ElevenLabs post-call webhooks."""

import time

from litestar import Controller, Response, post
from litestar.status_codes import HTTP_200_OK

from switchboard.ingress.errors import SignatureInvalid
from switchboard.ingress.events import elevenlabs, vapi
from switchboard.ingress.settings import IngressSettings, SignedSource
from switchboard.ingress.verify import (
    parse_elevenlabs_header,
    shared_secret_ok,
    timestamped_hmac_ok,
)
from switchboard.ingress.webhooks.answers import EMPTY_JSON
from switchboard.ingress.webhooks.common import (
    JSON,
    AnyRequest,
    accept,
    header,
    parse_json,
    read_body,
    wiring,
)


def _vapi_source(request: AnyRequest, body: bytes, settings: IngressSettings) -> SignedSource:
    vapi_settings = settings.vapi
    for source in vapi_settings.sources:
        if vapi_settings.auth_mode == "secret_header":
            ok = shared_secret_ok(header(request, b"x-vapi-secret"), source.secrets)
        elif vapi_settings.auth_mode == "bearer":
            auth = header(request, b"authorization") or ""
            ok = auth.startswith("Bearer ") and shared_secret_ok(auth[7:], source.secrets)
        else:
            ok = timestamped_hmac_ok(
                body,
                header(request, b"x-timestamp"),
                header(request, b"x-signature"),
                source.secrets,
                now=time.time(),
                max_age_s=vapi_settings.hmac_tolerance_s,
                max_future_s=vapi_settings.hmac_tolerance_s,
            )
        if ok:
            return source
    raise SignatureInvalid(detail=f"Vapi {vapi_settings.auth_mode} does not verify")


class VapiWebhooks(Controller):
    path = "/webhooks/vapi"
    tags = ("vapi",)

    @post("/", status_code=HTTP_200_OK, summary="Vapi server messages")
    async def server_message(
        self,
        request: AnyRequest,
    ) -> Response[dict[str, str]]:
        """status-update and end-of-call-report → ``call.events`` keyed by the Vapi call id;
        other message types are acknowledged and not published."""
        settings, delivery = wiring(request).settings, wiring(request).delivery
        body = await read_body(request, JSON)
        source = _vapi_source(request, body, settings)
        outgoing = vapi.server_message(parse_json(body), source.tenant)
        await accept("vapi", delivery, [outgoing] if outgoing else [])
        return EMPTY_JSON


class ElevenLabsWebhooks(Controller):
    path = "/webhooks/elevenlabs"
    tags = ("elevenlabs",)

    @post("/", status_code=HTTP_200_OK, summary="ElevenLabs post-call webhooks")
    async def post_call(
        self,
        request: AnyRequest,
    ) -> Response[dict[str, str]]:
        """post_call_transcription / call_initiation_failure → ``call.events`` as a call
        report keyed by conversation id; post_call_audio is acknowledged, not published."""
        settings, delivery = wiring(request).settings, wiring(request).delivery
        body = await read_body(request, JSON)
        t, v0 = parse_elevenlabs_header(header(request, b"elevenlabs-signature"))
        cfg = settings.elevenlabs
        now = time.time()
        source = next(
            (
                s
                for s in cfg.sources
                if timestamped_hmac_ok(
                    body,
                    t,
                    v0,
                    s.secrets,
                    now=now,
                    max_age_s=cfg.tolerance_s,
                    max_future_s=cfg.future_tolerance_s,
                )
            ),
            None,
        )
        if source is None:
            raise SignatureInvalid(detail="ElevenLabs-Signature does not verify or is stale")
        outgoing = elevenlabs.webhook(parse_json(body), source.tenant)
        await accept("elevenlabs", delivery, [outgoing] if outgoing else [])
        return EMPTY_JSON
