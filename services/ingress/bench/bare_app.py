"""The ceiling for the HTTP side: a Litestar endpoint that only reads the body, on every webhook
path (bench only)."""

from litestar import Litestar, Request, post
from litestar.status_codes import HTTP_204_NO_CONTENT


@post("/webhooks/{rest:path}", status_code=HTTP_204_NO_CONTENT)
async def read_only(request: Request, rest: str) -> None:  # type: ignore[type-arg]
    await request.body()


app = Litestar(route_handlers=[read_only])
