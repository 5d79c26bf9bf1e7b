"""Sending replies: WhatsApp Cloud API over a pooled ``httpx.AsyncClient``, Twilio SMS via its SDK.

Failures are sorted by what they say about delivery: the provider certainly did not take the
reply (connect error, 429, 5xx, a rate limit → SendFailed, safe to retry), never will for this
recipient (SendSkipped, incl. ReengagementRequired), never will for this business until its
token or permissions are fixed (SendNotAuthorized), never will otherwise (SendRejected), or no
answer came (read timeout → SendUnknown: it may have gone out; a reply is never sent twice, so
this one timeout is not retried). WhatsApp's error codes are read in ``graph_errors.py``.
"""

import asyncio
from typing import Any, Final

import aiohttp
import httpx
from twilio.base.exceptions import TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.rest import Client as TwilioClient

from switchboard.ai.adapters.graph_errors import classify
from switchboard.ai.errors import SendFailed, SendRejected, SendUnknown
from switchboard.ai.models import Business, ProviderTokens, Template, channel_of
from switchboard.ai.settings import ProviderSettings

_RETRYABLE_STATUS: Final = frozenset({408, 409, 425, 429})


def _classify(status: int, what: str) -> Exception:
    if status in _RETRYABLE_STATUS or status >= 500:
        return SendFailed(f"{what}: HTTP {status}")
    return SendRejected(f"{what}: HTTP {status}")


class WhatsAppSender:
    """``POST {graph}/{version}/{phone_number_id}/messages`` with the business's Bearer token."""

    def __init__(self, client: httpx.AsyncClient, settings: ProviderSettings) -> None:
        self._client = client
        self._base = f"{settings.whatsapp_graph_base.rstrip('/')}/{settings.whatsapp_version}"

    async def _post(
        self, business: Business, tokens: ProviderTokens, channel_id: str, body: dict[str, Any]
    ) -> httpx.Response:
        if not tokens.whatsapp_access_token:
            raise SendRejected(f"business {business.id} has no WhatsApp access token")
        try:
            response = await self._client.post(
                f"{self._base}/{channel_id}/messages",
                headers={"Authorization": f"Bearer {tokens.whatsapp_access_token}"},
                json=body,
            )
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise SendFailed(f"WhatsApp unreachable: {exc!r}") from exc
        except httpx.HTTPError as exc:
            raise SendUnknown(f"WhatsApp did not answer: {exc!r}") from exc
        if response.status_code >= 300:
            raise classify(response.status_code, response.text, "WhatsApp send")
        return response

    async def send(
        self,
        business: Business,
        tokens: ProviderTokens,
        channel_id: str,
        to: str,
        text: str,
        *,
        template: Template | None = None,
    ) -> str:
        body: dict[str, Any] = {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": to,
        }
        if template is None:
            body |= {"type": "text", "text": {"preview_url": False, "body": text}}
        else:
            body |= {"type": "template", "template": template_body(template)}
        response = await self._post(business, tokens, channel_id, body)
        try:
            return str(response.json()["messages"][0]["id"])
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            raise SendUnknown(f"WhatsApp answered without a message id: {exc!r}") from exc

    async def mark_read(
        self, business: Business, tokens: ProviderTokens, channel_id: str, message_id: str
    ) -> None:
        """Blue ticks on the customer's message (and the ones before it)."""
        await self._post(
            business,
            tokens,
            channel_id,
            {"messaging_product": "whatsapp", "status": "read", "message_id": message_id},
        )


def template_body(template: Template) -> dict[str, Any]:
    """The ``template`` object of a send: name, language and the body's text parameters."""
    body: dict[str, Any] = {"name": template.name, "language": {"code": template.language}}
    if template.parameters:
        body["components"] = [
            {
                "type": "body",
                "parameters": [{"type": "text", "text": v} for v in template.parameters],
            }
        ]
    return body


class TwilioSender:
    """``Messages.create`` through the Twilio SDK (async client, configurable base URL)."""

    def __init__(self, http: AsyncTwilioHttpClient, settings: ProviderSettings) -> None:
        self._http = http
        self._base_url = settings.twilio_base_url.rstrip("/")
        self._timeout_s = settings.timeout_s

    def _client(self, account_sid: str, token: str) -> TwilioClient:
        client = TwilioClient(account_sid, token, http_client=self._http)
        client.api.base_url = self._base_url
        return client

    async def send(
        self,
        business: Business,
        tokens: ProviderTokens,
        channel_id: str,
        to: str,
        text: str,
        *,
        template: Template | None = None,
    ) -> str:
        """SMS has no service window and no templates: ``text`` is always what is sent."""
        if not business.twilio_account_sid or not tokens.twilio_auth_token:
            raise SendRejected(f"business {business.id} has no Twilio account or auth token")
        client = self._client(business.twilio_account_sid, tokens.twilio_auth_token)
        try:
            async with asyncio.timeout(self._timeout_s):
                message = await client.messages.create_async(to=to, from_=channel_id, body=text)
        except TwilioRestException as exc:
            raise _classify(exc.status, f"Twilio send {exc.msg}") from exc
        except aiohttp.ClientConnectorError as exc:
            raise SendFailed(f"Twilio unreachable: {exc!r}") from exc
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise SendUnknown(f"Twilio did not answer: {exc!r}") from exc
        return str(message.sid)


class ChannelSender:
    """Picks the provider by the channel the message came in on."""

    def __init__(self, whatsapp: WhatsAppSender, sms: TwilioSender) -> None:
        self._whatsapp = whatsapp
        self._sms = sms

    async def send(
        self,
        business: Business,
        tokens: ProviderTokens,
        channel_id: str,
        to: str,
        text: str,
        *,
        template: Template | None = None,
    ) -> str:
        if channel_of(business, channel_id) == "whatsapp":
            return await self._whatsapp.send(
                business, tokens, channel_id, to, text, template=template
            )
        return await self._sms.send(business, tokens, channel_id, to, text)

    async def mark_read(
        self, business: Business, tokens: ProviderTokens, channel_id: str, message_id: str
    ) -> None:
        """WhatsApp only: SMS has no read receipts to give."""
        if channel_of(business, channel_id) == "whatsapp":
            await self._whatsapp.mark_read(business, tokens, channel_id, message_id)
