"""JSON Schemas of every event's ``data``, written to ``docs/events/`` (``make docs``);
a test fails when the committed files and the models drift apart."""

import json
import sys
from pathlib import Path

from switchboard.common.events.registry import EVENT_TYPES


def render() -> dict[str, str]:
    """File name → JSON Schema text for every registered event type."""
    out = {}
    for event_type, model in sorted(EVENT_TYPES.items()):
        schema = model.model_json_schema(mode="serialization")
        schema["$id"] = f"urn:switchboard:event:{event_type}"
        schema["description"] = (model.__doc__ or "").strip()
        out[f"{event_type}.json"] = json.dumps(schema, indent=2, sort_keys=True) + "\n"
    return out


def write(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in render().items():
        path = directory / name
        path.write_text(text)
        written.append(path)
    return written


if __name__ == "__main__":
    for p in write(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/events")):
        sys.stdout.write(f"{p}\n")
