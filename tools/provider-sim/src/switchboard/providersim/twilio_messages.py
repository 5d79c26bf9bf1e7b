"""Twilio SMS: accept a message, then walk it queued → sent → delivered with signed callbacks."""

import asyncio
from collections.abc import Sequence
from email.utils import format_datetime
from typing import Any

from switchboard.providersim.limits import TwilioError
from switchboard.providersim.state import SimState, utcnow
from switchboard.providersim.twilio_recordings import API_VERSION
from switchboard.providersim.webhooks import WebhookSender, twilio_form

STATUSES = ("queued", "sent", "delivered")
STEP_S = 0.5
"""Simulated seconds between two statuses."""
SEGMENT_CHARS = 153


class MessageEngine:
    """Creates messages and runs their status callbacks in the background."""

    def __init__(self, state: SimState, sender: WebhookSender) -> None:
        self._state = state
        self._sender = sender

    def create(self, account_sid: str, form: Sequence[tuple[str, str]]) -> dict[str, Any]:
        fields = dict(form)
        to = fields.get("To")
        sender = fields.get("From") or fields.get("MessagingServiceSid")
        if not to:
            raise TwilioError(21604, "A 'To' phone number is required.", 400)
        if not sender:
            raise TwilioError(21603, "A 'From' phone number is required.", 400)
        body = fields.get("Body", "")
        if not body and not fields.get("MediaUrl"):
            raise TwilioError(21602, "Message body is required.", 400)
        sid = self._state.new_id("SM")
        now = format_datetime(utcnow())
        message: dict[str, Any] = {
            "account_sid": account_sid,
            "api_version": API_VERSION,
            "body": body,
            "date_created": now,
            "date_sent": None,
            "date_updated": now,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": fields.get("From"),
            "messaging_service_sid": fields.get("MessagingServiceSid"),
            "num_media": "0",
            "num_segments": str(max(1, -(-len(body) // SEGMENT_CHARS))),
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            "status": "queued",
            "subresource_uris": {
                "media": f"/{API_VERSION}/Accounts/{account_sid}/Messages/{sid}/Media.json"
            },
            "to": to,
            "uri": f"/{API_VERSION}/Accounts/{account_sid}/Messages/{sid}.json",
        }
        self._state.messages[sid] = message
        self._state.record("twilio.message.created", sid=sid, to=to, body=body)
        self._state.spawn(self._run(message, fields.get("StatusCallback")))
        return dict(message)

    async def _run(self, message: dict[str, Any], callback: str | None) -> None:
        token = self._state.config.twilio_accounts[message["account_sid"]].auth_token
        for i, status in enumerate(STATUSES):
            if i:
                await self._state.sleep_sim(STEP_S)
            message["status"] = status
            message["date_updated"] = format_datetime(utcnow())
            if status == "sent":
                message["date_sent"] = message["date_updated"]
            self._state.record("twilio.message.status", sid=message["sid"], status=status)
            if callback:
                params = {
                    "AccountSid": message["account_sid"],
                    "ApiVersion": API_VERSION,
                    "From": message["from"] or "",
                    "MessageSid": message["sid"],
                    "MessageStatus": status,
                    "SmsSid": message["sid"],
                    "SmsStatus": status,
                    "To": message["to"],
                }
                delivery = twilio_form(
                    "twilio.message.status",
                    callback,
                    params,
                    token,
                    key=f"{message['sid']}:{status}",
                )
                await self._sender.send(delivery)
            await asyncio.sleep(0)
