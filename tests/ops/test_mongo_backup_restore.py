"""The MongoDB backup/restore runbook scripts against the local FerretDB (MongoDB wire): an AI
database with the service's real indexes and documents of every BSON type the service stores is
backed up, dropped, restored, and compared document by document and index by index."""

import asyncio
import datetime
import os
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest
from bson import Binary, Int64, ObjectId, json_util
from bson.json_util import CANONICAL_JSON_OPTIONS
from pymongo import ASCENDING, MongoClient

from switchboard.ai.adapters.mongo import create_client, ensure_indexes
from switchboard.common.settings import CommonSettings, MongoSettings
from switchboard.common.testing import unique

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def run(script: str, *args: str, url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(ROOT / "scripts/ops" / script), *args],
        env={**os.environ, "SWITCHBOARD_MONGO__URL": url},
        capture_output=True,
        text=True,
        timeout=120,
    )


def snapshot(client: MongoClient[dict[str, Any]], database: str) -> dict[str, Any]:
    """Every document as canonical Extended JSON (types and key order count) and every index."""
    db = client[database]
    out: dict[str, Any] = {}
    for name in sorted(db.list_collection_names()):
        docs = [
            json_util.dumps(d, json_options=CANONICAL_JSON_OPTIONS)
            for d in db[name].find({}, sort=[("_id", 1)])
        ]
        indexes = sorted(
            (ix["name"], list(ix["key"].items()), bool(ix.get("unique")))
            for ix in db[name].list_indexes()
        )
        out[name] = {"docs": docs, "indexes": indexes}
    return out


def seed(client: MongoClient[dict[str, Any]], url: str, database: str) -> None:
    settings = MongoSettings(url=url)

    async def indexes() -> None:
        async_client = create_client(settings)
        try:
            await ensure_indexes(async_client[database])
        finally:
            await async_client.close()

    asyncio.run(indexes())
    db = client[database]
    at = datetime.datetime(2026, 11, 23, 12, 30, 15, 123000, tzinfo=datetime.UTC)
    db["businesses"].insert_many(
        [
            {
                "_id": f"biz-{i}",
                "tenant": "acme",
                "name": f"Shop {i} — café",
                "created_at": at,
                "settings": {"model": "gpt-4o-mini", "limits": [Int64(2**40 + i), 3.5]},
            }
            for i in range(3)
        ]
    )
    db["conversation_messages"].insert_many(
        [
            {
                "_id": ObjectId(),
                "conversation": f"whatsapp:+1415555{i % 7:04d}",
                "at": at + datetime.timedelta(seconds=i),
                "role": "user" if i % 2 else "assistant",
                "text": f"message {i}",
                "cost_micros": Int64(i * 1_000_003),
                "score": i / 7,
            }
            for i in range(2500)  # more than one restore batch
        ]
    )
    db["knowledge_chunks"].insert_one(
        {
            "_id": uuid.uuid4().hex,
            "business_id": "biz-1",
            "doc_id": "faq",
            "hash": "abc",
            "embedding": Binary(bytes(range(256))),
            "nothing": None,
            "flags": [True, False],
        }
    )
    db["usage_events"].create_index([("tenant", ASCENDING), ("at", ASCENDING)], name="by_at")
    db["usage_events"].insert_one({"_id": "u1", "tenant": "acme", "tokens": 12})


@pytest.fixture
def mongo(common_settings: CommonSettings) -> Any:
    url = common_settings.mongo.url.get_secret_value()
    client: MongoClient[dict[str, Any]] = MongoClient(url, tz_aware=True)
    yield url, client
    client.close()


def test_backup_drop_restore_keeps_every_document_and_index(mongo: Any, tmp_path: Path) -> None:
    url, client = mongo
    source = unique("ai_backup")
    try:
        seed(client, url, source)
        before = snapshot(client, source)
        assert len(before["conversation_messages"]["docs"]) == 2500
        assert (
            "business_id_1_doc_id_1_hash_1",
            [("business_id", 1), ("doc_id", 1), ("hash", 1)],
            True,
        ) in before["knowledge_chunks"]["indexes"]

        backup = tmp_path / "ai-backup"
        done = run("mongo-backup.sh", source, str(backup), url=url)
        assert done.returncode == 0, done.stderr
        assert (backup / "manifest.json").exists()
        assert not (tmp_path / "ai-backup.partial").exists()

        client.drop_database(source)
        assert source not in client.list_database_names()

        done = run("mongo-restore.sh", str(backup), source, url=url)
        assert done.returncode == 0, done.stderr
        assert snapshot(client, source) == before

        # The restored unique index is enforced, like the original.
        chunk = client[source]["knowledge_chunks"].find_one()
        assert chunk is not None
        with pytest.raises(Exception, match="duplicate key"):
            client[source]["knowledge_chunks"].insert_one({**chunk, "_id": "other"})
    finally:
        client.drop_database(source)


def test_restore_refuses_a_database_with_data_and_backup_refuses_an_existing_dir(
    mongo: Any, tmp_path: Path
) -> None:
    url, client = mongo
    source = unique("ai_backup")
    try:
        client[source]["businesses"].insert_one({"_id": "b", "name": "x"})
        backup = tmp_path / "b"
        assert run("mongo-backup.sh", source, str(backup), url=url).returncode == 0
        again = run("mongo-backup.sh", source, str(backup), url=url)
        assert again.returncode != 0
        assert "exists already" in again.stderr
        over = run("mongo-restore.sh", str(backup), source, url=url)
        assert over.returncode != 0
        assert "not empty" in over.stderr
        assert client[source]["businesses"].count_documents({}) == 1
    finally:
        client.drop_database(source)
