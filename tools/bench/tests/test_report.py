import json
from pathlib import Path

from switchboard.bench.report import write_rows


def test_a_run_replaces_only_its_own_rows(tmp_path: Path) -> None:
    path = tmp_path / "results" / "x.json"
    write_rows(path, [{"metric": "a", "command": "c1"}], replaces=lambda r: True)
    write_rows(path, [{"metric": "b", "command": "c2"}], replaces=lambda r: r["command"] == "c2")
    write_rows(path, [{"metric": "b2", "command": "c2"}], replaces=lambda r: r["command"] == "c2")
    assert json.loads(path.read_text()) == [
        {"metric": "a", "command": "c1"},
        {"metric": "b2", "command": "c2"},
    ]
