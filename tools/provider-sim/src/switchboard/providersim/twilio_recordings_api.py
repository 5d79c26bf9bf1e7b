"""Twilio's recordings REST API: list (``CallSid`` filter), fetch and delete one recording
(``/2010-04-01/Accounts/{AC}/Recordings…``)."""

from typing import Any

from litestar import Controller, delete, get
from litestar.params import FromPath

from switchboard.providersim.deps import SimDep
from switchboard.providersim.limits import TwilioError
from switchboard.providersim.state import SimState
from switchboard.providersim.twilio_api import (
    AnyRequest,
    admitted,
    not_found,
    page_of,
    query_pairs,
    twilio_error_handler,
)
from switchboard.providersim.twilio_recordings import API_VERSION


def _find(sim: SimState, account_sid: str, file: str, path: str) -> dict[str, Any]:
    recording = sim.recordings.get(file.removesuffix(".json"))
    if recording is None or recording["account_sid"] != account_sid:
        raise not_found(path)
    return recording


class TwilioRecordingsApi(Controller):
    """``Recordings.json`` (list, ``CallSid`` filter), fetch and delete one recording."""

    path = f"/{API_VERSION}/Accounts/{{account_sid:str}}"
    include_in_schema = False
    exception_handlers = {TwilioError: twilio_error_handler}  # noqa: RUF012 - Litestar's API

    @get("/Recordings.json")
    async def list_recordings(
        self, request: AnyRequest, account_sid: FromPath[str], sim: SimDep
    ) -> dict[str, Any]:
        async with admitted(sim, request, account_sid):
            query = query_pairs(request)
            call_sid = dict(query).get("CallSid")
            items = [
                r
                for r in sim.recordings.values()
                if r["account_sid"] == account_sid and call_sid in (None, r["call_sid"])
            ]
            path = f"/{API_VERSION}/Accounts/{account_sid}/Recordings.json"
            return page_of(items, "recordings", path, query)

    @get("/Recordings/{file:str}")
    async def fetch_recording(
        self, request: AnyRequest, account_sid: FromPath[str], file: FromPath[str], sim: SimDep
    ) -> dict[str, Any]:
        async with admitted(sim, request, account_sid):
            return _find(sim, account_sid, file, request.url.path)

    @delete("/Recordings/{file:str}", status_code=204)
    async def delete_recording(
        self, request: AnyRequest, account_sid: FromPath[str], file: FromPath[str], sim: SimDep
    ) -> None:
        async with admitted(sim, request, account_sid):
            recording = _find(sim, account_sid, file, request.url.path)
            del sim.recordings[recording["sid"]]
            sim.record("twilio.recording.deleted", sid=recording["sid"])
