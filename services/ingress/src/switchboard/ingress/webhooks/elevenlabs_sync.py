"""ElevenLabs' synchronous requests: the conversation-initiation client-data webhook (inbound
Twilio calls, before the conversation starts) and server tools (mid-call). ElevenLabs signs
neither: it sends the headers configured with workspace secrets, so both are authenticated by
``Authorization: Bearer <secret>``, one of an ElevenLabs account's ``tool_secrets`` in the
control plane. The tenant is the one the agent's channel (``elevenlabs-agent/<agent_id>`` of
that account) is bound to; a call on an agent no tenant owns gets the unowned default.

Configure the initiation webhook URL as ``https://<ingress>/webhooks/elevenlabs/initiation``
and each server tool as ``POST https://<ingress>/webhooks/elevenlabs/tools/<tool name>`` with a
JSON body of its parameters plus ``conversation_id`` = ``{{system__conversation_id}}``,
``agent_id`` = ``{{system__agent_id}}``, ``caller_id`` = ``{{system__caller_id}}`` and
``called_number`` = ``{{system__called_number}}`` (see docs/voice.md).
"""

import re
import time
from datetime import UTC, datetime
from typing import Annotated, Any, Final

from litestar import Response, post
from litestar.params import PathParameter
from litestar.status_codes import HTTP_200_OK

from switchboard.common.config import ElevenLabsAccount
from switchboard.ingress.directory import Directory
from switchboard.ingress.errors import PayloadInvalid, SignatureInvalid
from switchboard.ingress.mappers import Owner
from switchboard.ingress.mappers.voice_sync import (
    SyncRequest,
    elevenlabs_initiation,
    elevenlabs_tool,
)
from switchboard.ingress.webhooks.answers import EMPTY_JSON, FixedAnswer
from switchboard.ingress.webhooks.common import (
    JSON,
    AnyRequest,
    parse_json,
    raw_header,
    read_body,
    wiring,
)
from switchboard.ingress.webhooks.endpoint import WebhookDoc, documented, operation, webhook
from switchboard.ingress.webhooks.voice_sync import answer_sync

TOOL_NAME: Final = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def _verified(request: AnyRequest, directory: Directory) -> list[ElevenLabsAccount]:
    """The accounts whose tool secret is the bearer sent (none: 403)."""
    directory.require_ready()
    auth = raw_header(request, b"authorization") or b""
    accounts = directory.elevenlabs_by_tool_secret(auth[7:]) if auth.startswith(b"Bearer ") else []
    if not accounts:
        raise SignatureInvalid(
            detail="Authorization: Bearer does not carry an ElevenLabs tool secret"
        )
    return accounts


def _owner(directory: Directory, accounts: list[ElevenLabsAccount], r: SyncRequest) -> Owner:
    """The tenant of the agent's channel, for the verified account the channel belongs to."""
    channel = directory.channel("elevenlabs-agent", r.agent_id)
    account = next(
        (a for a in accounts if channel is not None and a.id == channel.account_id), accounts[0]
    )
    return directory.owner(account, "elevenlabs-agent", r.agent_id)


@webhook(
    "/webhooks/elevenlabs/initiation",
    WebhookDoc(
        "ElevenLabs conversation initiation client data",
        "elevenlabs",
        JSON,
        ["Authorization"],
        EMPTY_JSON,
        "conversation_initiation_client_data: dynamic variables and the overrides the agent "
        "allows (or the fallback)",
    ),
)
async def elevenlabs_initiation_data(request: AnyRequest) -> FixedAnswer[Any]:
    """An inbound Twilio call to an ElevenLabs agent is about to start: the business that owns
    the agent (or the called number) gives its dynamic variables and allowed overrides."""
    arrived = time.monotonic()
    wired = wiring(request)
    body = await read_body(request, JSON)
    accounts = _verified(request, wired.directory)
    sync = elevenlabs_initiation(parse_json(body))
    owner = _owner(wired.directory, accounts, sync)
    return await answer_sync(request, sync, owner, arrived, "elevenlabs-initiation")


TOOLS_DOC = WebhookDoc(
    "ElevenLabs server tools",
    "elevenlabs",
    JSON,
    ["Authorization"],
    EMPTY_JSON,
    'The tool\'s result ({"result"} or {"error"}), or the fallback',
)
TOOLS_DESCRIPTION = """A server tool of a live ElevenLabs conversation, answered by the
business's tool of that name (``search_knowledge``, ``opening_hours``, ``transfer`` or its own
HTTP tool)."""


@post(
    "/webhooks/elevenlabs/tools/{tool:str}",
    status_code=HTTP_200_OK,
    summary="ElevenLabs server tools",
    # An HTTP route: Litestar's ASGI routes do not take path parameters.
    opt=documented(
        operation(
            TOOLS_DOC,
            operation_id="elevenlabs_server_tool",
            description=TOOLS_DESCRIPTION,
            path="/webhooks/elevenlabs/tools/{tool}",
        )
    ),
)
async def elevenlabs_server_tool(
    request: AnyRequest, tool: Annotated[str, PathParameter()]
) -> Response[Any]:
    arrived = time.monotonic()
    wired = wiring(request)
    body = await read_body(request, JSON)
    accounts = _verified(request, wired.directory)
    if not TOOL_NAME.match(tool):
        raise PayloadInvalid(detail="a tool name is 1-64 letters, digits, '_' or '-'")
    sync = elevenlabs_tool(tool, parse_json(body), datetime.now(UTC))
    owner = _owner(wired.directory, accounts, sync)
    return await answer_sync(request, sync, owner, arrived, "elevenlabs-tool")


ROUTES = [elevenlabs_initiation_data, elevenlabs_server_tool]
