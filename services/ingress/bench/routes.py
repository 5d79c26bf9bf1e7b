"""The ingress routes ``make bench-ingress`` measures: for each, distinct requests signed the way
its provider signs them, and the accounts and channels (as the control plane publishes them on
control.config) that verify and attribute them. Bench only."""

import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from pydantic import SecretStr

from switchboard.common.config import (
    Channel,
    ElevenLabsAccount,
    Entity,
    TwilioAccount,
    VapiAccount,
    WhatsAppAccount,
)
from switchboard.common.testing import twilio_signature

TENANT = "bench"
TWILIO_ACCOUNT = "AC" + "b" * 32
TWILIO_TOKEN = "bench-auth-token-0123"
OUR_NUMBER = "+15005550006"
"""The business's number: caller ID of its calls, sender of its messages."""
INBOUND_NUMBER = "+14155550100"
"""The business's number customers write to."""
CUSTOMER = "+14155550199"
WA_APP = "bench-meta-app"
WA_SECRET = "bench-meta-app-secret-0001"
WABA = "102290129340398"
PHONE_NUMBER_ID = "106540352242922"
VAPI_ORG = "bench-vapi-org"
VAPI_SECRET = "bench-vapi-secret-0001"
VAPI_ASSISTANT = "bench-assistant"
EL_WORKSPACE = "bench-el-workspace"
EL_SECRET = "wsec_bench_elevenlabs_0001"
EL_AGENT = "bench-agent"

Request = tuple[bytes, dict[str, str]]
"""A request's body and headers (the method is always POST)."""


def entities() -> list[Entity]:
    """One account per provider and the channels every bench request names: each request is
    verified with its account's secret and owned by the tenant ``bench``."""
    return [
        TwilioAccount(id=TWILIO_ACCOUNT, tenants=(TENANT,), auth_tokens=(SecretStr(TWILIO_TOKEN),)),
        Channel(kind="phone", id=OUR_NUMBER, tenant=TENANT, account_id=TWILIO_ACCOUNT),
        Channel(kind="phone", id=INBOUND_NUMBER, tenant=TENANT, account_id=TWILIO_ACCOUNT),
        WhatsAppAccount(
            id=WA_APP, tenants=(TENANT,), app_secrets=(SecretStr(WA_SECRET),), waba_ids=(WABA,)
        ),
        Channel(
            kind="whatsapp", id=PHONE_NUMBER_ID, tenant=TENANT, account_id=WA_APP, waba_id=WABA
        ),
        # HMAC mode: the costliest of Vapi's three (secret header and bearer are one compare).
        VapiAccount(
            id=VAPI_ORG,
            tenants=(TENANT,),
            auth_mode="hmac",
            webhook_secrets=(SecretStr(VAPI_SECRET),),
        ),
        Channel(kind="vapi-assistant", id=VAPI_ASSISTANT, tenant=TENANT, account_id=VAPI_ORG),
        ElevenLabsAccount(
            id=EL_WORKSPACE, tenants=(TENANT,), webhook_secrets=(SecretStr(EL_SECRET),)
        ),
        Channel(kind="elevenlabs-agent", id=EL_AGENT, tenant=TENANT, account_id=EL_WORKSPACE),
    ]


def _hex_hmac(secret: str, message: bytes) -> str:
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def _twilio(path: str, params: dict[str, str], base_url: str) -> Request:
    return urlencode(params).encode(), {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Twilio-Signature": twilio_signature(base_url + path, params, TWILIO_TOKEN),
    }


def _json(payload: Any) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()


def voice_status(i: int, base_url: str) -> Request:
    return _twilio(
        "/webhooks/twilio/voice/status",
        {
            "AccountSid": TWILIO_ACCOUNT,
            "CallSid": f"CA{uuid.uuid4().hex}",
            "CallStatus": "completed",
            "CallDuration": "42",
            "SequenceNumber": "3",
            "From": OUR_NUMBER,
            "To": CUSTOMER,
            "Direction": "outbound-api",
            "Timestamp": "Mon, 23 Nov 2026 13:00:00 +0000",
            "CallbackSource": "call-progress-events",
            "ApiVersion": "2010-04-01",
        },
        base_url,
    )


def messaging(i: int, base_url: str) -> Request:
    sid = f"SM{uuid.uuid4().hex}"
    return _twilio(
        "/webhooks/twilio/messaging",
        {
            "AccountSid": TWILIO_ACCOUNT,
            "MessageSid": sid,
            "SmsMessageSid": sid,
            "SmsSid": sid,
            "MessagingServiceSid": "MG" + "c" * 32,
            "From": CUSTOMER,
            "To": INBOUND_NUMBER,
            "Body": f"Hi, can I move my appointment to Thursday afternoon? ({i})",
            "NumMedia": "0",
            "NumSegments": "1",
            "SmsStatus": "received",
            "FromCountry": "US",
            "ToCountry": "US",
            "ApiVersion": "2010-04-01",
        },
        base_url,
    )


def messaging_status(i: int, base_url: str) -> Request:
    sid = f"SM{uuid.uuid4().hex}"
    return _twilio(
        "/webhooks/twilio/messaging/status",
        {
            "AccountSid": TWILIO_ACCOUNT,
            "MessageSid": sid,
            "SmsSid": sid,
            "MessageStatus": "delivered",
            "SmsStatus": "delivered",
            "From": OUR_NUMBER,
            "To": CUSTOMER,
            "ApiVersion": "2010-04-01",
        },
        base_url,
    )


def whatsapp(i: int, base_url: str) -> Request:
    """One inbound text message per notification, as Meta sends most of them."""
    payload = {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": WABA,
                "changes": [
                    {
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {
                                "display_phone_number": "15550783881",
                                "phone_number_id": PHONE_NUMBER_ID,
                            },
                            "contacts": [
                                {"profile": {"name": "Sheena Nelson"}, "wa_id": "16505551234"}
                            ],
                            "messages": [
                                {
                                    "from": "16505551234",
                                    "id": f"wamid.{uuid.uuid4().hex}",
                                    "timestamp": str(int(time.time())),
                                    "type": "text",
                                    "text": {"body": f"Does it come in another color? ({i})"},
                                }
                            ],
                        },
                        "field": "messages",
                    }
                ],
            }
        ],
    }
    body = _json(payload)
    return body, {
        "Content-Type": "application/json",
        "X-Hub-Signature-256": f"sha256={_hex_hmac(WA_SECRET, body)}",
    }


def vapi(i: int, base_url: str) -> Request:
    """A status-update (Vapi sends several per call), signed in HMAC mode."""
    body = _json(
        {
            "message": {
                "type": "status-update",
                "status": "in-progress",
                "timestamp": int(time.time() * 1000),
                "call": {
                    "id": str(uuid.uuid4()),
                    "orgId": VAPI_ORG,
                    "type": "outboundPhoneCall",
                    "assistantId": VAPI_ASSISTANT,
                },
            }
        }
    )
    t = str(int(time.time()))
    return body, {
        "Content-Type": "application/json",
        "X-Timestamp": t,
        "X-Signature": _hex_hmac(VAPI_SECRET, t.encode() + b"." + body),
    }


def elevenlabs(i: int, base_url: str) -> Request:
    """A post-call transcription (the published type), a short call's."""
    body = _json(
        {
            "type": "post_call_transcription",
            "event_timestamp": int(time.time()),
            "data": {
                "agent_id": EL_AGENT,
                "conversation_id": f"conv_{uuid.uuid4().hex}",
                "status": "done",
                "transcript": [
                    {"role": "agent", "message": "Hello, this is Mary. How can I help?"},
                    {"role": "user", "message": f"I would like to book for Thursday. ({i})"},
                ],
                "metadata": {
                    "start_time_unix_secs": int(time.time()) - 22,
                    "call_duration_secs": 22,
                    "cost": 296,
                    "termination_reason": "",
                    "phone_call": {
                        "type": "twilio",
                        "call_sid": f"CA{uuid.uuid4().hex}",
                        "external_number": CUSTOMER,
                    },
                },
                "analysis": {
                    "call_successful": "success",
                    "transcript_summary": "The customer booked an appointment for Thursday.",
                },
            },
        }
    )
    t = str(int(time.time()))
    v0 = _hex_hmac(EL_SECRET, t.encode() + b"." + body)
    return body, {"Content-Type": "application/json", "ElevenLabs-Signature": f"t={t},v0={v0}"}


@dataclass(frozen=True)
class Route:
    key: str
    """Its name in ``BENCH_ROUTES``."""
    name: str
    path: str
    status: int
    """What the ingress answers a verified request."""
    build: Callable[[int, str], Request]
    """(sequence number, the ingress's public base URL) → a distinct signed request."""


ROUTES: tuple[Route, ...] = (
    Route(
        "voice-status", "Twilio voice status", "/webhooks/twilio/voice/status", 204, voice_status
    ),
    Route("messaging", "Twilio inbound SMS", "/webhooks/twilio/messaging", 200, messaging),
    Route(
        "messaging-status",
        "Twilio messaging status",
        "/webhooks/twilio/messaging/status",
        204,
        messaging_status,
    ),
    Route("whatsapp", "WhatsApp inbound message", "/webhooks/whatsapp", 200, whatsapp),
    Route("vapi", "Vapi status-update (HMAC)", "/webhooks/vapi", 200, vapi),
    Route(
        "elevenlabs", "ElevenLabs post-call transcription", "/webhooks/elevenlabs", 200, elevenlabs
    ),
)
