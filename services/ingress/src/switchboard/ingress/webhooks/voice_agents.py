"""Voice-agent platforms: Vapi server messages and ElevenLabs post-call webhooks.

The payload names its channel (the Vapi phone number or assistant, the ElevenLabs agent): that
channel's account verifies it and its tenant owns it. A webhook on a channel no tenant owns is
verified with the account ``?account=<id>`` names on the webhook URL (or the only account of
that provider; Vapi's ``secret_header``/``bearer`` secrets also name their account) and kept,
unowned, for the operator.

Vapi's synchronous message types (``assistant-request``, ``tool-calls``, ``function-call``,
``transfer-destination-request``) are answered by ``voice_sync.py`` once verified; ElevenLabs'
synchronous requests have routes of their own (``elevenlabs_sync.py``)."""

import time
from typing import Any, Final

from switchboard.common.config import (
    AccountBase,
    Channel,
    ChannelKind,
    ElevenLabsAccount,
    Provider,
    VapiAccount,
)
from switchboard.ingress.directory import Directory, owner_of
from switchboard.ingress.errors import SignatureInvalid
from switchboard.ingress.mappers import Owner, elevenlabs, owned, vapi
from switchboard.ingress.mappers.voice_sync import VAPI_SYNC_TYPES, vapi_request
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
    query_value,
    raw_header,
    read_body,
    wiring,
)
from switchboard.ingress.webhooks.endpoint import WebhookDoc, webhook
from switchboard.ingress.webhooks.voice_sync import answer_sync


def _sync(payload: object) -> bool:
    message = payload.get("message") if isinstance(payload, dict) else None
    return isinstance(message, dict) and message.get("type") in VAPI_SYNC_TYPES


ACCOUNT_PARAM: Final = "account"
"""Query parameter of a webhook URL naming the account whose secrets verify it."""


def _vapi_ok(request: AnyRequest, body: bytes, account: VapiAccount, tolerance_s: int) -> bool:
    if account.auth_mode == "secret_header":
        return shared_secret_ok(raw_header(request, b"x-vapi-secret"), account.webhook_secrets)
    if account.auth_mode == "bearer":
        auth = raw_header(request, b"authorization") or b""
        return auth.startswith(b"Bearer ") and shared_secret_ok(auth[7:], account.webhook_secrets)
    return timestamped_hmac_ok(
        body,
        raw_header(request, b"x-timestamp"),
        raw_header(request, b"x-signature"),
        account.webhook_secrets,
        now=time.time(),
        max_age_s=tolerance_s,
        max_future_s=tolerance_s,
    )


def _candidates(
    request: AnyRequest, directory: Directory, provider: Provider, channel: Channel | None
) -> list[AccountBase]:
    """The accounts that may have signed a voice-agent webhook, each tried once, in order:
    the account of its channel, the one ``?account=`` names on the webhook URL, the only
    one configured. A request costs a few checks, whatever the number of accounts."""
    found: dict[str, AccountBase] = {}
    if channel is not None and (own := directory.account(provider, channel.account_id)):
        found[own.id] = own
    if provider == "vapi":
        found.update((a.id, a) for a in _vapi_by_secret(request, directory))
    hint = query_value(request, ACCOUNT_PARAM)
    if hint and (named := directory.account(provider, hint)):
        found.setdefault(named.id, named)
    if sole := directory.sole_account(provider):
        found.setdefault(sole.id, sole)
    return list(found.values())


def _vapi_by_secret(request: AnyRequest, directory: Directory) -> list[VapiAccount]:
    """Vapi accounts whose secret is the one sent as is (``secret_header``/``bearer``)."""
    accounts = directory.vapi_by_secret("secret_header", raw_header(request, b"x-vapi-secret"))
    auth = raw_header(request, b"authorization")
    if auth and auth.startswith(b"Bearer "):
        accounts += directory.vapi_by_secret("bearer", auth[7:])
    return accounts


def _owner(
    directory: Directory,
    account: AccountBase,
    channel: Channel | None,
    named: list[tuple[ChannelKind, str | None]],
) -> Owner:
    if channel is not None:
        return owner_of(account, channel, channel.kind, channel.id)
    kind, channel_id = next(((k, i) for k, i in named if i), named[0])
    return directory.owner(account, kind, channel_id)


@webhook(
    "/webhooks/vapi",
    WebhookDoc(
        "Vapi server messages",
        "vapi",
        JSON,
        [],  # which header depends on the auth mode (see below)
        EMPTY_JSON,
        "Every event is durable (or the message type is not published); a synchronous "
        "message gets its answer (an assistant, tool results, a transfer destination)",
    ),
)
async def vapi_server_message(request: AnyRequest) -> FixedAnswer[Any]:
    """status-update and end-of-call-report → ``call.events`` keyed by the Vapi call id;
    assistant-request, tool-calls, function-call and transfer-destination-request are
    answered from the business that owns the call (or the configured fallback) and recorded
    on ``call.events``; other message types are acknowledged and not published.
    Authenticated by ``X-Vapi-Secret``, a bearer token or an ``X-Signature`` HMAC, as the
    account's ``auth_mode`` says."""
    arrived = time.monotonic()
    wired = wiring(request)
    body = await read_body(request, JSON)
    directory = wired.directory
    directory.require_ready()
    payload = parse_json(body)
    phone, assistant = vapi.channel_ids(payload)
    channel = directory.channel("vapi-phone", phone) or directory.channel(
        "vapi-assistant", assistant
    )
    tolerance = wired.settings.vapi.hmac_tolerance_s
    account = next(
        (
            a
            for a in _candidates(request, directory, "vapi", channel)
            if isinstance(a, VapiAccount) and _vapi_ok(request, body, a, tolerance)
        ),
        None,
    )
    if account is None:
        raise SignatureInvalid(detail="Vapi webhook does not verify with its account's secret")
    owner = _owner(
        directory, account, channel, [("vapi-phone", phone), ("vapi-assistant", assistant)]
    )
    if _sync(payload):
        return await answer_sync(request, vapi_request(payload), owner, arrived, "vapi")
    outgoing = vapi.server_message(payload, owner.tenant)
    await accept("vapi", wired.delivery, [owned(outgoing, owner)] if outgoing else [])
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
    body = await read_body(request, JSON)
    directory = wired.directory
    directory.require_ready()
    payload = parse_json(body)
    agent = elevenlabs.agent_id(payload)
    channel = directory.channel("elevenlabs-agent", agent)
    t, v0 = parse_elevenlabs_header(raw_header(request, b"elevenlabs-signature"))
    cfg = wired.settings.elevenlabs
    now = time.time()
    account = next(
        (
            a
            for a in _candidates(request, directory, "elevenlabs", channel)
            if isinstance(a, ElevenLabsAccount)
            and timestamped_hmac_ok(
                body,
                t,
                v0,
                a.webhook_secrets,
                now=now,
                max_age_s=cfg.tolerance_s,
                max_future_s=cfg.future_tolerance_s,
            )
        ),
        None,
    )
    if account is None:
        raise SignatureInvalid(detail="ElevenLabs-Signature does not verify or is stale")
    owner = _owner(directory, account, channel, [("elevenlabs-agent", agent)])
    outgoing = elevenlabs.webhook(payload, owner.tenant)
    await accept("elevenlabs", wired.delivery, [owned(outgoing, owner)] if outgoing else [])
    return EMPTY_JSON


ROUTES = [vapi_server_message, elevenlabs_post_call]
