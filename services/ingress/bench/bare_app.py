"""The ceiling for the HTTP side: Litestar endpoints that only read the body and give the answer
the ingress gives on that path (204, empty TwiML, ``{}``), with no verification and no Kafka
(bench only)."""

from litestar import Litestar, Request, Response, post
from litestar.status_codes import HTTP_200_OK, HTTP_204_NO_CONTENT

TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'


@post(
    ["/webhooks/twilio/voice/status", "/webhooks/twilio/messaging/status"],
    status_code=HTTP_204_NO_CONTENT,
)
async def no_content(request: Request) -> None:  # type: ignore[type-arg]
    await request.body()


@post("/webhooks/twilio/messaging", status_code=HTTP_200_OK)
async def empty_twiml(request: Request) -> Response[str]:  # type: ignore[type-arg]
    await request.body()
    return Response(TWIML, media_type="text/xml")


@post(["/webhooks/whatsapp", "/webhooks/vapi", "/webhooks/elevenlabs"], status_code=HTTP_200_OK)
async def empty_json(request: Request) -> dict[str, str]:  # type: ignore[type-arg]
    await request.body()
    return {}


app = Litestar(route_handlers=[no_content, empty_twiml, empty_json])
