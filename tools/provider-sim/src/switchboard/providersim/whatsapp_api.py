"""Meta's Graph API for WhatsApp: ``POST /{version}/{phone_number_id}/messages`` (a reply, a
template, or a read receipt), ``GET /{version}/{media-id}`` and the media download.

Enforced as Meta does: the number's Bearer token (190), the 24-hour customer-service window
for anything but a template (131047, as an error answer or as a ``failed`` status webhook,
``whatsapp.window_error``), approved templates (132001, when ``approved_templates`` is set);
errors queued by tests (``POST /_sim/whatsapp/errors``) answer the next sends.
"""

import hashlib
import hmac
import json
import time
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import State
from litestar.params import FromPath

from switchboard.providersim.deps import SimDep, WhatsAppDep
from switchboard.providersim.state import SimState
from switchboard.providersim.whatsapp import meta_error
from switchboard.providersim.whatsapp_errors import graph_error

AnyRequest = Request[Any, Any, State]


def _bearer(request: AnyRequest) -> str:
    return request.headers.get("authorization", "").removeprefix("Bearer ").strip()


def _token_ok(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


def _any_token_ok(sim: SimState, given: str) -> bool:
    """Media belong to the app: any of its numbers' tokens reads them."""
    return any(_token_ok(given, t) for t in sim.config.whatsapp.phone_numbers.values())


def _template_refusal(sim: SimState, body: dict[str, Any]) -> Response[Any] | None:
    template = body.get("template")
    if not isinstance(template, dict) or not template.get("name"):
        return graph_error(100, "template.name is required for type template")
    language = (template.get("language") or {}).get("code")
    if not language:
        return graph_error(100, "template.language.code is required")
    approved = sim.config.whatsapp.approved_templates
    if approved is not None and language not in approved.get(str(template["name"]), []):
        return graph_error(132001)
    return None


class WhatsAppApi(Controller):
    """The Cloud API's messages and media endpoints: Bearer token per phone number id."""

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
        if not _token_ok(_bearer(request), token):
            sim.record("whatsapp.rejected", phone_number_id=phone_number_id)
            return meta_error(401, "Invalid OAuth access token.", "OAuthException", 190)
        try:
            body = json.loads(await request.body())
            if body.get("status") == "read":
                return self._read(sim, phone_number_id, body)
            to = str(body["to"])
        except (ValueError, KeyError, TypeError, AttributeError):
            return meta_error(400, "(#100) Invalid parameter", "OAuthException", 100)
        if sim.whatsapp_errors:  # queued by a test
            return self._refuse(sim, phone_number_id, body, sim.whatsapp_errors.pop(0))
        is_template = body.get("type") == "template"
        if is_template and (refused := _template_refusal(sim, body)) is not None:
            sim.whatsapp_rejected.append({"code": 132001, **body})
            return refused
        outside = (
            not is_template
            and sim.config.whatsapp.enforce_window
            and not whatsapp.window_open(phone_number_id, to)
        )
        if outside and sim.config.whatsapp.window_error == "response":
            return self._refuse(sim, phone_number_id, body, 131047)
        message_id = whatsapp.wamid()
        sim.whatsapp_replies.append(
            {
                "id": message_id,
                "phone_number_id": phone_number_id,
                "version": version,
                "at": time.time(),
                **body,
            }
        )
        sim.record("whatsapp.reply", id=message_id, to=to, phone_number_id=phone_number_id)
        if outside:  # accepted, then failed by Meta with a status webhook
            sim.whatsapp_rejected.append({"code": 131047, "id": message_id, **body})
            sim.spawn(whatsapp.failed_status(phone_number_id, message_id, to, 131047))
        else:
            sim.spawn(whatsapp.status_walk(phone_number_id, message_id, to))
        return Response(
            {
                "messaging_product": "whatsapp",
                "contacts": [{"input": to, "wa_id": to}],
                "messages": [{"id": message_id}],
            }
        )

    @staticmethod
    def _refuse(
        sim: SimState, phone_number_id: str, body: dict[str, Any], code: int
    ) -> Response[Any]:
        sim.whatsapp_rejected.append({"code": code, "phone_number_id": phone_number_id, **body})
        sim.record("whatsapp.refused", code=code, phone_number_id=phone_number_id)
        return graph_error(code)

    @staticmethod
    def _read(sim: SimState, phone_number_id: str, body: dict[str, Any]) -> Response[Any]:
        """A read receipt: ``{"messaging_product": "whatsapp", "status": "read",
        "message_id": ...}`` → ``{"success": true}``."""
        message_id = body.get("message_id")
        if not isinstance(message_id, str) or not message_id:
            return graph_error(100, "message_id is required")
        sim.whatsapp_reads.append({"phone_number_id": phone_number_id, **body})
        sim.record("whatsapp.read", message_id=message_id)
        return Response({"success": True})

    @get("/{version:str}/{media_id:str}")
    async def media_url(
        self, request: AnyRequest, version: FromPath[str], media_id: FromPath[str], sim: SimDep
    ) -> Response[Any]:
        """The media's metadata and a download URL (Meta: valid for 5 minutes)."""
        if not version.startswith("v"):
            return graph_error(100, f"Unknown path {version}/{media_id}")
        if not _any_token_ok(sim, _bearer(request)):
            return graph_error(190)
        found = sim.whatsapp_media.get(media_id)
        if found is None:
            return graph_error(100, f"Object with ID '{media_id}' does not exist.")
        mime, data = found
        base = str(request.base_url).rstrip("/")
        return Response(
            {
                "messaging_product": "whatsapp",
                "url": f"{base}/whatsapp_business/attachments/?mid={media_id}",
                "mime_type": mime,
                "sha256": hashlib.sha256(data).hexdigest(),
                "file_size": str(len(data)),
                "id": media_id,
            }
        )

    @get("/whatsapp_business/attachments/")
    async def media_download(self, request: AnyRequest, sim: SimDep) -> Response[Any]:
        """The file itself, for the same Bearer token (Meta's lookaside URL)."""
        if not _any_token_ok(sim, _bearer(request)):
            return Response(b"", status_code=401)
        found = sim.whatsapp_media.get(request.query_params.get("mid", ""))
        if found is None:
            return Response(b"", status_code=404)
        mime, data = found
        sim.record("whatsapp.media.download", mid=request.query_params.get("mid"))
        return Response(data, media_type=mime)
