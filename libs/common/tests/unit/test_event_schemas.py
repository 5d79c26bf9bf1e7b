from pathlib import Path

from switchboard.common.events import EVENT_TYPES
from switchboard.common.events.schemas import render

DOCS = Path(__file__).resolve().parents[4] / "docs" / "events"


def test_committed_schemas_match_the_models() -> None:
    rendered = render()
    assert set(rendered) == {f"{t}.json" for t in EVENT_TYPES}
    stale = [
        name
        for name, text in rendered.items()
        if not (DOCS / name).exists() or (DOCS / name).read_text() != text
    ]
    assert not stale, f"run `make docs`: {stale}"


def test_every_type_is_versioned() -> None:
    assert all(
        t.startswith("switchboard.") and t.rsplit(".", 1)[-1].startswith("v") for t in EVENT_TYPES
    )
