"""Fixed answers send exactly what Litestar would send for the same response, every time."""

from typing import Any

import pytest
from litestar import Request, Response
from litestar.types import Message

from switchboard.ingress.webhooks.answers import EMPTY_JSON, EMPTY_TWIML, NO_CONTENT, FixedAnswer

REQUEST: Request[Any, Any, Any] = Request({"type": "http", "method": "POST", "path": "/"})


async def sent(response: Response[Any]) -> list[Message]:
    messages: list[Message] = []

    async def send(message: Message) -> None:
        messages.append(message)

    async def receive() -> Message:
        raise AssertionError("an answer reads nothing")

    await response.to_asgi_response(None, REQUEST)({"type": "http"}, receive, send)
    return messages


@pytest.mark.parametrize("answer", [NO_CONTENT, EMPTY_TWIML, EMPTY_JSON])
async def test_a_fixed_answer_sends_what_the_response_would(answer: FixedAnswer[Any]) -> None:
    ordinary = Response(
        answer.content, status_code=answer.status_code, media_type=answer.media_type
    )
    first = await sent(answer)
    assert first == await sent(ordinary)
    assert first[0]["status"] == answer.status_code
    assert await sent(answer) == first  # nothing carried over from one request to the next
