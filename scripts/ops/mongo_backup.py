"""Back up and restore one MongoDB database with pymongo alone (MongoDB 7 and FerretDB v1).

Used by ``mongo-backup.sh`` / ``mongo-restore.sh``. Why not mongodump: Debian ships no
mongodump, the mongo-tools Go module is not served by the module proxy here, and FerretDB v1
answers only the plain commands used below (listCollections, find, listIndexes, insert,
createIndexes), so one small tool covers both servers.

A backup is a directory::

    manifest.json            format, database, server version, per collection: file, count,
                             indexes (listIndexes output without the server-specific keys)
    <collection>.jsonl.gz    one document per line, canonical Extended JSON (keeps every
                             BSON type: Int64, Decimal128, dates, binary, ObjectId, key order)

It is written under ``<dir>.partial`` and renamed when complete. Each collection is read with
one cursor in ``_id`` order; collections are not read at one point in time (FerretDB has no
snapshots): stop the writers (scale the AI worker to 0) for an exact cross-collection copy.
Not carried over: collection options (capped, validators, collations) and text/geo index keys,
none of which the AI service uses.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

from bson import json_util
from bson.json_util import CANONICAL_JSON_OPTIONS
from pymongo import MongoClient
from pymongo.operations import IndexModel

FORMAT = "switchboard-mongo-backup/1"
BATCH = 1000
# listIndexes keys that describe the server's copy rather than the index itself.
SERVER_KEYS = {"v", "ns", "key", "name"}


def _client(url: str) -> MongoClient[dict[str, Any]]:
    return MongoClient(url, serverSelectionTimeoutMS=10_000, tz_aware=True)


def backup(url: str, database: str, out: Path) -> dict[str, Any]:
    """Write ``database`` to the directory ``out`` (must not exist); return the manifest."""
    if out.exists():
        raise SystemExit(f"{out} exists already: choose a new name")
    partial = out.with_name(out.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    client = _client(url)
    try:
        db = client[database]
        names = sorted(db.list_collection_names())
        if not names:
            raise SystemExit(f"database {database!r} has no collections: nothing to back up")
        manifest: dict[str, Any] = {
            "format": FORMAT,
            "database": database,
            "server_version": client.server_info().get("version"),
            "collections": {},
        }
        for number, name in enumerate(names):
            file = f"{number:03d}.jsonl.gz"  # collection names may hold any character
            count = 0
            with gzip.open(partial / file, "wt", encoding="utf-8") as fh:
                for doc in db[name].find({}, sort=[("_id", 1)], batch_size=BATCH):
                    fh.write(json_util.dumps(doc, json_options=CANONICAL_JSON_OPTIONS))
                    fh.write("\n")
                    count += 1
            indexes = [
                json.loads(json_util.dumps(ix, json_options=CANONICAL_JSON_OPTIONS))
                for ix in db[name].list_indexes()
            ]
            manifest["collections"][name] = {"file": file, "count": count, "indexes": indexes}
        (partial / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    finally:
        client.close()
    for path in partial.iterdir():
        with path.open("rb") as fh:
            os.fsync(fh.fileno())
    partial.rename(out)  # a half-written backup never carries the final name
    return manifest


def _index_model(definition: dict[str, Any]) -> IndexModel:
    spec = json_util.loads(json.dumps(definition))
    options = {k: v for k, v in spec.items() if k not in SERVER_KEYS}
    return IndexModel(list(spec["key"].items()), name=spec["name"], **options)


def restore(url: str, backup_dir: Path, database: str) -> dict[str, int]:
    """Load a backup into ``database``, which must not hold collections yet."""
    manifest = json.loads((backup_dir / "manifest.json").read_text())
    if manifest.get("format") != FORMAT:
        raise SystemExit(f"{backup_dir}: not a {FORMAT} backup")
    client = _client(url)
    counts: dict[str, int] = {}
    try:
        db = client[database]
        if db.list_collection_names():
            raise SystemExit(f"database {database!r} is not empty: restore next to it instead")
        for name, entry in manifest["collections"].items():
            collection = db[name]
            db.create_collection(name)
            batch: list[dict[str, Any]] = []
            restored = 0
            with gzip.open(backup_dir / entry["file"], "rt", encoding="utf-8") as fh:
                for line in fh:
                    batch.append(json_util.loads(line, json_options=CANONICAL_JSON_OPTIONS))
                    if len(batch) >= BATCH:
                        restored += len(collection.insert_many(batch, ordered=True).inserted_ids)
                        batch = []
            if batch:
                restored += len(collection.insert_many(batch, ordered=True).inserted_ids)
            models = [_index_model(ix) for ix in entry["indexes"] if ix["name"] != "_id_"]
            if models:
                collection.create_indexes(models)
            if restored != entry["count"]:
                raise SystemExit(
                    f"{name}: restored {restored} documents, expected {entry['count']}"
                )
            counts[name] = restored
    finally:
        client.close()
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=os.environ.get("SWITCHBOARD_MONGO__URL"))
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("backup", help="database → new backup directory")
    b.add_argument("database")
    b.add_argument("out", type=Path)
    r = sub.add_parser("restore", help="backup directory → new database")
    r.add_argument("backup", type=Path)
    r.add_argument("database")
    args = parser.parse_args(argv)
    url = args.url or "mongodb://127.0.0.1:27018/"
    if args.command == "backup":
        manifest = backup(url, args.database, args.out)
        total = sum(c["count"] for c in manifest["collections"].values())
        sys.stdout.write(
            f"backed up {args.database}: {len(manifest['collections'])} collections, "
            f"{total} documents to {args.out}\n"
        )
    else:
        counts = restore(url, args.backup, args.database)
        sys.stdout.write(
            f"restored {args.backup} into {args.database}: {sum(counts.values())} documents\n"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
