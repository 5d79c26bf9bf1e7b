"""The ceiling for live voice answers: a Litestar endpoint that reads and parses the Vapi
message and answers a fixed body of the right shape, nothing verified, asked or published
(bench only)."""

import json
from typing import Any

from litestar import Litestar, Request, post

ASSISTANT = {"assistantId": "asst-bare"}


@post("/webhooks/vapi", status_code=200)
async def answer(request: Request) -> dict[str, Any]:  # type: ignore[type-arg]
    message = json.loads(await request.body())["message"]
    if message["type"] == "tool-calls":
        return {
            "results": [
                {"toolCallId": c["id"], "name": c["name"], "result": "open"}
                for c in message["toolCallList"]
            ]
        }
    return ASSISTANT


app = Litestar(route_handlers=[answer])
