"""The local servers started by scripts/infra answer real clients."""

import os
import socket
import subprocess
from pathlib import Path

import asyncpg
import pytest
import redis.asyncio as aioredis
from pymongo import AsyncMongoClient, ReturnDocument
from pymongo.errors import DuplicateKeyError

from switchboard.common.settings import CommonSettings
from switchboard.common.testing import unique

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


async def test_mongo_wire_server_round_trips_a_document(common_settings: CommonSettings) -> None:
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(
        common_settings.mongo.url.get_secret_value(), serverSelectionTimeoutMS=10_000
    )
    try:
        coll = client[unique("roundtrip")]["docs"]
        inserted = await coll.insert_one({"business": "acme", "n": 1, "tags": ["a"]})
        found = await coll.find_one({"_id": inserted.inserted_id})
        assert found is not None
        assert (found["business"], found["n"], found["tags"]) == ("acme", 1, ["a"])
        # what the services rely on for idempotency: unique indexes and atomic updates
        await coll.create_index("business", unique=True)
        with pytest.raises(DuplicateKeyError):
            await coll.insert_one({"business": "acme"})
        updated = await coll.find_one_and_update(
            {"business": "acme"}, {"$inc": {"n": 2}}, return_document=ReturnDocument.AFTER
        )
        assert updated is not None and updated["n"] == 3
        await client.drop_database(coll.database.name)
    finally:
        await client.close()


async def test_redis_answers(common_settings: CommonSettings) -> None:
    client = aioredis.from_url(common_settings.redis.url.get_secret_value())
    try:
        key = unique("k")
        assert await client.set(key, "v", ex=10)
        assert await client.get(key) == b"v"
    finally:
        await client.aclose()


async def test_postgres_answers(common_settings: CommonSettings) -> None:
    conn = await asyncpg.connect(common_settings.postgres.dsn("postgres"))
    try:
        version = await conn.fetchval("SHOW server_version")
        assert str(version).startswith("15")
    finally:
        await conn.close()


@pytest.mark.parametrize(
    ("script", "variable"),
    [("redis.sh", "SWITCHBOARD_REDIS_PORT"), ("ferretdb.sh", "SWITCHBOARD_FERRETDB_PORT")],
)
def test_a_port_held_by_another_process_is_named_not_taken_for_ours(
    tmp_path: Path, script: str, variable: str
) -> None:
    """Another checkout's server on our port: the start fails saying which port and which pid
    holds it (before: the readiness probe accepted the foreign server as ours)."""
    with socket.socket() as foreign:
        foreign.bind(("127.0.0.1", 0))
        foreign.listen()
        port = foreign.getsockname()[1]
        done = subprocess.run(
            ["bash", str(ROOT / "scripts/infra" / script), "start"],
            env={**os.environ, variable: str(port), "SWITCHBOARD_LOCAL_DIR": str(tmp_path)},
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    assert done.returncode != 0
    assert f"port {port} is taken by pid {os.getpid()}" in done.stderr, done.stderr[-2000:]
    assert variable in done.stderr
