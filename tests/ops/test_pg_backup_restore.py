"""The PostgreSQL backup/restore runbook scripts against the real server: a history database
with partitioned tables is backed up, restored under a new name, and nothing is lost."""

import asyncio
import os
import subprocess
from pathlib import Path

import asyncpg
import pytest

from switchboard.common.migrations import drop_database
from switchboard.common.settings import PostgresSettings
from switchboard.common.testing import unique
from switchboard.history.migrate import migrate

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def run(script: str, *args: str, pg: PostgresSettings) -> None:
    env = {
        **os.environ,
        "SWITCHBOARD_POSTGRES__HOST": pg.host,
        "SWITCHBOARD_POSTGRES__PORT": str(pg.port),
        "SWITCHBOARD_POSTGRES__USER": pg.user,
    }
    done = subprocess.run(
        ["bash", str(ROOT / "scripts/ops" / script), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr


async def snapshot(pg: PostgresSettings, database: str) -> dict[str, object]:
    conn = await asyncpg.connect(pg.dsn(database))
    try:
        tables = await conn.fetch(
            "SELECT relname FROM pg_class WHERE relkind IN ('r', 'p') "
            "AND relnamespace = 'public'::regnamespace ORDER BY relname"
        )
        counts = {
            # names come from pg_class, not from input
            t["relname"]: await conn.fetchval(f'SELECT count(*) FROM "{t["relname"]}"')  # noqa: S608
            for t in tables
        }
        marker = await conn.fetchval("SELECT value FROM backup_marker")
        return {"counts": counts, "marker": marker}
    finally:
        await conn.close()


async def drop(pg: PostgresSettings, *names: str) -> None:
    await asyncio.to_thread(drop_database, pg, *names)


def test_backup_then_restore_keeps_every_row(pg_settings: PostgresSettings, tmp_path: Path) -> None:
    source, restored = unique("backup_src"), unique("backup_dst")
    try:
        asyncio.run(asyncio.to_thread(migrate, pg_settings, source))

        async def fill() -> None:
            conn = await asyncpg.connect(pg_settings.dsn(source))
            try:
                await conn.execute("CREATE TABLE backup_marker (value text)")
                await conn.execute("INSERT INTO backup_marker VALUES ('before-the-incident')")
            finally:
                await conn.close()

        asyncio.run(fill())
        before = asyncio.run(snapshot(pg_settings, source))
        backup = tmp_path / "history.dump"
        run("pg-backup.sh", source, str(backup), pg=pg_settings)
        assert backup.stat().st_size > 0
        assert not (tmp_path / "history.dump.partial").exists()
        run("pg-restore.sh", str(backup), restored, pg=pg_settings)
        assert asyncio.run(snapshot(pg_settings, restored)) == before
    finally:
        asyncio.run(drop(pg_settings, source, restored))
