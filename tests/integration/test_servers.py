"""The local servers started by scripts/infra answer real clients."""

import asyncpg
import pytest
import redis.asyncio as aioredis
from pymongo import AsyncMongoClient, ReturnDocument
from pymongo.errors import DuplicateKeyError

from switchboard.common.settings import CommonSettings
from switchboard.common.testing import unique

pytestmark = pytest.mark.integration


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
