"""Meta's send endpoint: ``POST /{version}/{phone_number_id}/messages`` (a business replies)."""

import hmac
import json
from typing import Any

from litestar import Controller, Request, Response, post
from litestar.datastructures import State
from litestar.params import FromPath

from switchboard.providersim.deps import SimDep, WhatsAppDep
from switchboard.providersim.whatsapp import meta_error

AnyRequest = Request[Any, Any, State]


class WhatsAppApi(Controller):
    """The Cloud API's messages endpoint: Bearer token per phone number id."""

    path = "/"
    include_in_schema = False

    @post("/{version:str}/{phone_number_id:str}/messages", status_code=200)
    async def send_message(
        self,
        request: AnyRequest,
        version: FromPath[str],
        phone_number_id: FromPath[str],
        sim: SimDep,
        whatsapp: WhatsAppDep,
    ) -> Response[Any]:
        token = sim.config.whatsapp.phone_numbers.get(phone_number_id)
        if token is None:
            return meta_error(
                400,
                f"Unsupported post request. Object with ID '{phone_number_id}' does not exist.",
                "GraphMethodException",
                100,
            )
        given = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(given.encode(), token.encode()):
            sim.record("whatsapp.rejected", phone_number_id=phone_number_id)
            return meta_error(401, "Invalid OAuth access token.", "OAuthException", 190)
        try:
            body = json.loads(await request.body())
            to = str(body["to"])
        except (ValueError, KeyError, TypeError):
            return meta_error(400, "(#100) Invalid parameter", "OAuthException", 100)
        message_id = whatsapp.wamid()
        sim.whatsapp_replies.append(
            {"id": message_id, "phone_number_id": phone_number_id, "version": version, **body}
        )
        sim.record("whatsapp.reply", id=message_id, to=to, phone_number_id=phone_number_id)
        sim.spawn(whatsapp.status_walk(phone_number_id, message_id, to))
        return Response(
            {
                "messaging_product": "whatsapp",
                "contacts": [{"input": to, "wa_id": to}],
                "messages": [{"id": message_id}],
            }
        )
