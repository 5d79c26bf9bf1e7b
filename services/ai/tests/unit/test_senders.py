"""WhatsApp Cloud API sender over httpx.MockTransport: request shape and failure classes."""

import json

import httpx
import pytest

from switchboard.ai.adapters.senders import ChannelSender, TwilioSender, WhatsAppSender
from switchboard.ai.errors import SendFailed, SendRejected, SendUnknown
from switchboard.ai.models import ProviderTokens
from switchboard.ai.settings import ProviderSettings

SETTINGS = ProviderSettings(whatsapp_graph_base="https://graph.test", whatsapp_version="v99.0")
TOKENS = ProviderTokens(whatsapp_access_token="wa-token", twilio_auth_token="tw")


def sender(handler) -> WhatsAppSender:
    return WhatsAppSender(httpx.AsyncClient(transport=httpx.MockTransport(handler)), SETTINGS)


async def test_posts_text_with_bearer_and_returns_the_wamid(build, cipher) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"messages": [{"id": "wamid.OUT"}]})

    business = build.business(cipher)
    assert await sender(handler).send(business, TOKENS, build.wa_id, "155512", "hi") == "wamid.OUT"
    [request] = seen
    assert str(request.url) == f"https://graph.test/v99.0/{build.wa_id}/messages"
    assert request.headers["authorization"] == "Bearer wa-token"
    body = json.loads(request.content)
    assert body["to"] == "155512"
    assert body["text"]["body"] == "hi"
    assert body["messaging_product"] == "whatsapp"


@pytest.mark.parametrize(
    ("status", "error"),
    [(429, SendFailed), (503, SendFailed), (400, SendRejected), (401, SendRejected)],
)
async def test_http_errors_are_classified(build, cipher, status, error) -> None:
    s = sender(lambda r: httpx.Response(status, json={"error": {"message": "x"}}))
    with pytest.raises(error):
        await s.send(build.business(cipher), TOKENS, build.wa_id, "1", "hi")


async def test_connect_error_is_retryable_read_timeout_is_unknown(build, cipher) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    def hang(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("no answer", request=request)

    business = build.business(cipher)
    with pytest.raises(SendFailed):
        await sender(refuse).send(business, TOKENS, build.wa_id, "1", "hi")
    with pytest.raises(SendUnknown):
        await sender(hang).send(business, TOKENS, build.wa_id, "1", "hi")


async def test_channel_sender_routes_by_channel(build, cipher) -> None:
    class Recorder:
        def __init__(self) -> None:
            self.calls = 0

        async def send(self, *args) -> str:
            self.calls += 1
            return "id"

    wa, sms = Recorder(), Recorder()
    router = ChannelSender(wa, sms)  # type: ignore[arg-type]
    business = build.business(cipher)
    await router.send(business, TOKENS, build.wa_id, "1", "hi")
    await router.send(business, TOKENS, build.sms_number, "+1", "hi")
    assert (wa.calls, sms.calls) == (1, 1)


async def test_missing_tokens_are_rejected(build, cipher) -> None:
    business = build.business(cipher)
    with pytest.raises(SendRejected):
        await sender(lambda r: httpx.Response(200)).send(
            business, ProviderTokens(), build.wa_id, "1", "hi"
        )
    with pytest.raises(SendRejected):
        await TwilioSender(None, SETTINGS).send(  # type: ignore[arg-type]
            business, ProviderTokens(), build.sms_number, "+1", "hi"
        )
