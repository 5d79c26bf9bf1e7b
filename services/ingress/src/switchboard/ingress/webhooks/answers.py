"""The webhook routes' success answers, each encoded once.

A route's answer never varies (204, empty TwiML, ``{}``), yet a ``Response`` is rendered and
turned into an ``ASGIResponse`` on every request: a tenth of a verified webhook's cost
(measured, see the ingress README's "Throughput"). ``FixedAnswer`` keeps the handlers' typed
signatures (and so the OpenAPI document) while the ASGI answer is built at import time."""

from typing import Any, Final, TypeVar

from litestar import Request, Response
from litestar.enums import MediaType
from litestar.response.base import ASGIResponse
from litestar.status_codes import HTTP_200_OK, HTTP_204_NO_CONTENT
from litestar.utils.helpers import get_enum_string_value

T = TypeVar("T")


class FixedAnswer(Response[T]):
    """A ``Response`` whose ASGI form is made once and sent for every request. Route-level
    response headers and cookies do not apply to it (the webhook routes set none; security
    headers and the request id come from the before-send hook, on every answer)."""

    def __init__(self, content: T, *, status_code: int, media_type: str) -> None:
        super().__init__(content, status_code=status_code, media_type=media_type)
        self.media: Final = get_enum_string_value(media_type)
        """``media_type`` as the header's text."""
        self.asgi: Final = ASGIResponse(
            body=self.render(content, media_type),
            media_type=media_type,
            status_code=status_code,
        )
        """The answer as an ASGI app, the same object for every request (it keeps no state)."""

    def to_asgi_response(  # the per-request arguments are not used
        self, app: Any, request: Request[Any, Any, Any], **_: Any
    ) -> ASGIResponse:
        return self.asgi


NO_CONTENT: Final = FixedAnswer(None, status_code=HTTP_204_NO_CONTENT, media_type=MediaType.JSON)
EMPTY_TWIML: Final = FixedAnswer(
    '<?xml version="1.0" encoding="UTF-8"?><Response/>',
    status_code=HTTP_200_OK,
    media_type="text/xml",
)
EMPTY_JSON: Final[FixedAnswer[dict[str, str]]] = FixedAnswer(
    {}, status_code=HTTP_200_OK, media_type=MediaType.JSON
)
