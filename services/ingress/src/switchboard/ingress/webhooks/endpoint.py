"""Webhook POST routes as ASGI route handlers, with their OpenAPI operations written out.

A Litestar HTTP route spends ~15 µs per request on its request/kwargs model, exit stack and
response pipeline (measured in-process; a webhook's whole CPU budget is ~100 µs): the largest
framework cost left on the ingress's hot path. A webhook route reads its raw body, verifies
it and answers the same every time, so it needs none of that: it is an ASGI handler calling
the same provider code, inside the same middleware, exception handlers and before-send hook.
Litestar documents HTTP routes only, so each webhook carries its ``Operation`` and
:func:`document` adds them to the app's schema. An ASGI route cannot share a path with HTTP
routes: WhatsApp's POST, which shares Meta's GET verification path, stays an HTTP route,
documented the same way (Litestar would show it without its raw body)."""

import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from litestar import Litestar, Request, asgi
from litestar.enums import ParamType
from litestar.exceptions import MethodNotAllowedException
from litestar.handlers import ASGIRouteHandler
from litestar.openapi.spec import (
    OpenAPIMediaType,
    OpenAPIResponse,
    OpenAPIType,
    Operation,
    Parameter,
    PathItem,
    RequestBody,
    Schema,
)
from litestar.routes import HTTPRoute
from litestar.types import Receive, Scope, Send

from switchboard.ingress.webhooks.answers import FixedAnswer
from switchboard.ingress.webhooks.common import AnyRequest

Handler = Callable[[AnyRequest], Awaitable[FixedAnswer[Any]]]
_OPERATION: Final = "openapi_operation"

_REJECTION: Final = OpenAPIMediaType(
    schema=Schema(
        type=OpenAPIType.OBJECT,
        required=["status_code", "reason", "detail"],
        properties={
            "status_code": Schema(type=OpenAPIType.INTEGER),
            "reason": Schema(type=OpenAPIType.STRING, description="e.g. signature, too_large"),
            "detail": Schema(type=OpenAPIType.STRING),
        },
    )
)
_TEXT: Final = Schema(type=OpenAPIType.STRING)
_REJECTIONS: Final = {
    "400": "The body cannot be read (not UTF-8, not JSON, client gone)",
    "403": "The signature does not verify (or its timestamp is stale)",
    "413": "The body is over the configured limit (reason too_large), or an event is over "
    "Kafka's record limit even after trimming (event_too_large)",
    "415": "Wrong Content-Type",
    "422": "Verified, but not a payload this route knows",
    "429": "Over the per-IP rate limit",
    "503": "Neither Kafka nor the spool could make the events durable; see Retry-After",
}


@dataclass(frozen=True, slots=True)
class WebhookDoc:
    """What a webhook's OpenAPI operation says besides its handler's name and docstring."""

    summary: str
    tag: str
    media_type: str
    """Of the signed body."""
    headers: Sequence[str]
    """The signature headers."""
    answer: FixedAnswer[Any]
    answer_description: str


def operation(
    doc: WebhookDoc, *, operation_id: str, description: str | None, path: str = ""
) -> Operation:
    """A webhook's OpenAPI operation: its path parameters, body, signature headers, answer
    and every rejection."""
    body_schema = (
        Schema(type=OpenAPIType.OBJECT, additional_properties=_TEXT)
        if doc.media_type == "application/x-www-form-urlencoded"
        else Schema(type=OpenAPIType.OBJECT)
    )
    answer = doc.answer
    success = OpenAPIResponse(
        description=doc.answer_description,
        content=None
        if answer.status_code == 204
        else {answer.media: OpenAPIMediaType(schema=Schema())},
    )
    return Operation(
        tags=[doc.tag],
        summary=doc.summary,
        description=description,
        operation_id=operation_id,
        parameters=[
            *(
                Parameter(name=p, param_in=ParamType.PATH, required=True, schema=_TEXT)
                for p in re.findall(r"{(\w+)(?::\w+)?}", path)
            ),
            *(
                Parameter(name=h, param_in=ParamType.HEADER, required=True, schema=_TEXT)
                for h in doc.headers
            ),
        ],
        request_body=RequestBody(
            content={doc.media_type: OpenAPIMediaType(schema=body_schema)}, required=True
        ),
        responses={
            str(answer.status_code): success,
            **{
                code: OpenAPIResponse(description=text, content={"application/json": _REJECTION})
                for code, text in _REJECTIONS.items()
            },
        },
    )


def documented(op: Operation) -> dict[str, Operation]:
    """``opt`` for a route handler whose POST :func:`document` describes with ``op``."""
    return {_OPERATION: op}


def webhook(path: str, doc: WebhookDoc) -> Callable[[Handler], ASGIRouteHandler]:
    """Serve ``handler`` at ``POST path`` (405 for other methods), documented by ``doc``."""

    def route(handler: Handler) -> ASGIRouteHandler:
        async def endpoint(scope: Scope, receive: Receive, send: Send) -> None:
            if scope.get("method") != "POST":
                raise MethodNotAllowedException(headers={"Allow": "POST"})
            fixed = await handler(Request(scope, receive, send))
            await fixed.asgi(scope, receive, send)

        op = operation(doc, operation_id=handler.__name__, description=handler.__doc__, path=path)
        return asgi(path, copy_scope=False, opt=documented(op))(endpoint)

    return route


def document(app: Litestar) -> Litestar:
    """Write the operations of ``app``'s :func:`documented` handlers into its OpenAPI schema
    as their paths' POST (Litestar leaves ASGI routes out, and documents a raw-body HTTP
    handler without its body)."""
    paths = app.openapi_schema.paths
    if paths is None:
        paths = app.openapi_schema.paths = {}
    for route in app.routes:
        handlers = route.route_handlers if isinstance(route, HTTPRoute) else [route.route_handler]
        for handler in handlers:
            if _OPERATION in handler.opt:
                # path_format: "/tools/{tool}", as OpenAPI writes a path parameter.
                paths.setdefault(route.path_format, PathItem()).post = handler.opt[_OPERATION]
    return app
