"""``switchboard-ingress spool …`` on real spool files (no Kafka needed)."""

import asyncio
import json
from pathlib import Path

from typer.testing import CliRunner

from switchboard.common.events import KafkaRecord
from switchboard.ingress.__main__ import cli
from switchboard.ingress.spool import DeadLetter, Spool


def record(n: int) -> tuple[str, KafkaRecord]:
    return "call.events", KafkaRecord(
        f"CA{n}".encode(), json.dumps({"n": n}).encode(), {"ce_type": b"t", "bin": b"\xff"}
    )


async def spool_with_dead_letters(directory: Path, count: int) -> None:
    spool = Spool(directory, max_events=100)
    await spool.open()
    await spool.append([record(n) for n in range(count + 1)])
    batch = await spool.peek(count)
    await spool.dead_letter([DeadLetter(s.seq, "refused", "refused: (fake)", 2) for s in batch])
    await spool.close()


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["spool", *args])
    return result.exit_code, result.stdout, result.stderr


def test_list_show_requeue_and_export_with_remove(tmp_path: Path) -> None:
    asyncio.run(spool_with_dead_letters(tmp_path, 2))
    code, out, _ = run("list", "-d", str(tmp_path))
    assert code == 0 and "spool-0.db: 2 dead letter(s), 1 waiting" in out
    assert "refused" in out and "2x" in out
    code, out, _ = run("show", "1", "-d", str(tmp_path))
    assert code == 0 and 'value:\n{"n": 0}' in out
    assert json.loads(out[: out.index("\nvalue")])["headers"] == {"ce_type": "t", "bin": "ÿ"}
    assert run("show", "99", "-d", str(tmp_path))[0] == 1
    code, out, _ = run("requeue", "2", "-d", str(tmp_path))
    assert code == 0 and "requeued 1" in out
    assert "1 dead letter(s), 2 waiting" in run("list", "-d", str(tmp_path))[1]
    target = tmp_path / "out.jsonl"
    code, _, err = run("export", "-d", str(tmp_path), "-o", str(target), "--remove")
    assert code == 0 and "exported 1 dead letter(s) and removed them" in err
    assert [json.loads(ln)["seq"] for ln in target.read_text().splitlines()] == [1]
    assert "0 dead letter(s), 2 waiting" in run("list", "-d", str(tmp_path))[1]


def test_requeue_all_and_refusals_of_mistakes(tmp_path: Path) -> None:
    asyncio.run(spool_with_dead_letters(tmp_path, 3))
    assert run("requeue", "-d", str(tmp_path))[0] == 2  # neither numbers nor --all
    assert run("export", "-d", str(tmp_path), "--remove")[0] == 2  # --remove needs a file
    assert run("list", "-d", str(tmp_path / "nope"))[0] == 2
    code, out, _ = run("requeue", "--all", "-d", str(tmp_path))
    assert code == 0 and "requeued 3" in out
    code, out, _ = run("export", "-d", str(tmp_path))
    assert code == 0 and out == ""


def test_a_file_a_running_ingress_holds_is_left_alone(tmp_path: Path) -> None:
    asyncio.run(spool_with_dead_letters(tmp_path, 1))

    async def held() -> tuple[int, str, str]:
        spool = Spool(tmp_path, max_events=100)
        await spool.open()  # claims spool-0, as a running ingress would
        try:
            return run("requeue", "--all", "-d", str(tmp_path))
        finally:
            await spool.close()

    code, out, err = asyncio.run(held())
    assert code == 1 and "requeued 0" in out
    assert "spool-0.db is in use by a running ingress" in err
    assert "1 dead letter(s)" in run("list", "-d", str(tmp_path))[1]
