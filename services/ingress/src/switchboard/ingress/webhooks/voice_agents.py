"""Voice-agent platforms: Vapi server messages and ElevenLabs post-call webhooks."""

import time

from switchboard.ingress.errors import SignatureInvalid
from switchboard.ingress.mappers import elevenlabs, vapi
from switchboard.ingress.settings import IngressSettings, SignedSource
from switchboard.ingress.verify import (
    parse_elevenlabs_header,
    shared_secret_ok,
    timestamped_hmac_ok,
)
from switchboard.ingress.webhooks.answers import EMPTY_JSON, FixedAnswer
from switchboard.ingress.webhooks.common import (
    JSON,
    AnyRequest,
    accept,
    parse_json,
    raw_header,
    read_body,
    wiring,
)
from switchboard.ingress.webhooks.endpoint import WebhookDoc, webhook


def _vapi_source(request: AnyRequest, body: bytes, settings: IngressSettings) -> SignedSource:
    vapi_settings = settings.vapi
    for source in vapi_settings.sources:
        if vapi_settings.auth_mode == "secret_header":
            ok = shared_secret_ok(raw_header(request, b"x-vapi-secret"), source.secrets)
        elif vapi_settings.auth_mode == "bearer":
            auth = raw_header(request, b"authorization") or b""
            ok = auth.startswith(b"Bearer ") and shared_secret_ok(auth[7:], source.secrets)
        else:
            ok = timestamped_hmac_ok(
                body,
                raw_header(request, b"x-timestamp"),
                raw_header(request, b"x-signature"),
                source.secrets,
                now=time.time(),
                max_age_s=vapi_settings.hmac_tolerance_s,
                max_future_s=vapi_settings.hmac_tolerance_s,
            )
        if ok:
            return source
    raise SignatureInvalid(detail=f"Vapi {vapi_settings.auth_mode} does not verify")


@webhook(
    "/webhooks/vapi",
    WebhookDoc(
        "Vapi server messages",
        "vapi",
        JSON,
        [],  # which header depends on the auth mode (see below)
        EMPTY_JSON,
        "Every event is durable (or the message type is not published)",
    ),
)
async def vapi_server_message(request: AnyRequest) -> FixedAnswer[dict[str, str]]:
    """status-update and end-of-call-report → ``call.events`` keyed by the Vapi call id;
    other message types are acknowledged and not published. Authenticated by ``X-Vapi-Secret``,
    a bearer token or an ``X-Signature`` HMAC, as ``SWITCHBOARD_VAPI__AUTH_MODE`` says."""
    wired = wiring(request)
    body = await read_body(request, JSON)
    source = _vapi_source(request, body, wired.settings)
    outgoing = vapi.server_message(parse_json(body), source.tenant)
    await accept("vapi", wired.delivery, [outgoing] if outgoing else [])
    return EMPTY_JSON


@webhook(
    "/webhooks/elevenlabs",
    WebhookDoc(
        "ElevenLabs post-call webhooks",
        "elevenlabs",
        JSON,
        ["ElevenLabs-Signature"],
        EMPTY_JSON,
        "Every event is durable (or the webhook type is not published)",
    ),
)
async def elevenlabs_post_call(request: AnyRequest) -> FixedAnswer[dict[str, str]]:
    """post_call_transcription / call_initiation_failure → ``call.events`` as a call
    report keyed by conversation id; post_call_audio is acknowledged, not published."""
    wired = wiring(request)
    settings = wired.settings
    body = await read_body(request, JSON)
    t, v0 = parse_elevenlabs_header(raw_header(request, b"elevenlabs-signature"))
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
    await accept("elevenlabs", wired.delivery, [outgoing] if outgoing else [])
    return EMPTY_JSON


ROUTES = [vapi_server_message, elevenlabs_post_call]
