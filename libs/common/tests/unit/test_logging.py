"""One handler renders every library's records; known-harmless start-up errors say so."""

import io
import json
import logging
from collections.abc import Iterator

import pytest

from switchboard.common.logging import configure_logging
from switchboard.common.settings import LogSettings


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    out = io.StringIO()
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield out
    root.handlers[:] = handlers
    root.setLevel(level)


def lines(out: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_library_records_become_json_with_their_extra_fields(captured: io.StringIO) -> None:
    configure_logging(LogSettings(level="INFO"), "svc", captured)
    logging.getLogger("uvicorn.error").info("Started server process [%d]", 7)
    extra = {"topic": "call.events", "group_id": "history", "message_id": "m1"}
    logging.getLogger("faststream.kafka").info("Received", extra=extra)
    uvicorn, faststream = lines(captured)
    assert uvicorn["event"] == "Started server process [7]"
    assert uvicorn["logger"] == "uvicorn.error" and uvicorn["service"] == "svc"
    assert faststream["topic"] == "call.events" and faststream["group_id"] == "history"


def test_the_coordinator_start_up_error_is_an_explained_info_line(captured: io.StringIO) -> None:
    configure_logging(LogSettings(level="INFO"), "svc", captured)
    logging.getLogger("aiokafka.consumer.group_coordinator").error(
        "Group Coordinator Request failed: %s", "[Error 15] GroupCoordinatorNotAvailableError"
    )
    logging.getLogger("aiokafka.consumer.group_coordinator").error("something else broke")
    explained, other = lines(captured)
    assert explained["level"] == "info"
    assert "expected:" in str(explained["event"])
    assert other["level"] == "error"


def test_console_output_is_readable_text(captured: io.StringIO) -> None:
    configure_logging(LogSettings(level="INFO", json_output=False), "svc", captured)
    logging.getLogger("x").info("hello %s", "there")
    text = captured.getvalue()
    assert "hello there" in text
    with pytest.raises(ValueError):
        json.loads(text.splitlines()[0])
