"""MongoDB wiring shared by the stores: client, collections, indexes, error translation.

Works on FerretDB v1 and MongoDB 7 alike. What FerretDB v1 (SQLite backend) does *not* give,
measured here, and so nothing relies on:

- unique *multikey* indexes are not enforced → channel ids get a collection keyed by ``_id``;
- conditional updates are not atomic (``update_one``/``find_one_and_update`` with a filter on
  ``state``: two concurrent callers both "win"; concurrent ``$inc`` loses increments) → every
  exclusive step is an **insert with a unique ``_id``** (the one operation both servers make
  atomic), and counters are insert-only rows summed on read;
- ``$group`` computes only its first accumulator → one ``$sum`` per aggregation;
- every read scans the collection, ``_id`` lookups too (the index is on ``sjson->"_id"``, the
  query says ``sjson->'$._id'``), and any other filter (``$in`` included) is applied in Go to
  every document → the hot path reads by ``_id`` only, and as little as it can.

No transactions, no TTL indexes, no change streams.
"""

from typing import Any, Final

from bson import Binary
from pymongo import ASCENDING, DESCENDING, AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError, PyMongoError

from switchboard.ai.errors import StoreUnavailable
from switchboard.common.crypto import Sealed
from switchboard.common.errors import ErrorTable, translated
from switchboard.common.settings import MongoSettings

Doc = dict[str, Any]


def sealed_to_doc(token: Sealed | None) -> Doc | None:
    """A sealed secret as stored: key id, nonce and ciphertext (never the clear value)."""
    if token is None:
        return None
    return {"kid": token.kid, "nonce": Binary(token.nonce), "ct": Binary(token.ciphertext)}


def sealed_from_doc(doc: Doc | None) -> Sealed | None:
    if not doc:
        return None
    return Sealed(kid=doc["kid"], nonce=bytes(doc["nonce"]), ciphertext=bytes(doc["ct"]))


Database = AsyncDatabase[Doc]

BUSINESSES: Final = "businesses"
CHANNELS: Final = "business_channels"
BINDINGS: Final = "channel_bindings"
"""One document (``_id`` = ``BINDINGS_MARKER``) whose token changes whenever channels are bound."""
BINDINGS_MARKER: Final = "marker"
REPLIES: Final = "replies"
MESSAGES: Final = "conversation_messages"
USAGE: Final = "usage_events"
DOCUMENTS: Final = "knowledge_documents"
CHUNKS: Final = "knowledge_chunks"
KNOWLEDGE_VERSIONS: Final = "knowledge_versions"


def create_client(settings: MongoSettings, **kwargs: Any) -> AsyncMongoClient[Doc]:
    """A client whose datetimes come back timezone-aware (UTC)."""
    return AsyncMongoClient(
        settings.url.get_secret_value(),
        tz_aware=True,
        serverSelectionTimeoutMS=int(settings.server_selection_timeout_s * 1000),
        socketTimeoutMS=int(settings.socket_timeout_s * 1000),
        **kwargs,
    )


MONGO_ERRORS: Final[ErrorTable] = (
    (DuplicateKeyError, None),  # callers handle it: it is how an exclusive step is taken
    (PyMongoError, StoreUnavailable),
)
"""pymongo errors → ours (:func:`~switchboard.common.errors.translated`)."""


async def ensure_indexes(db: Database) -> None:
    """Create the indexes the lookups need (idempotent)."""
    with translated("creating indexes", MONGO_ERRORS):
        await db[BUSINESSES].create_index([("tenant", ASCENDING), ("name", ASCENDING)])
        await db[CHANNELS].create_index([("business_id", ASCENDING)])
        await db["business_voice_channels"].create_index([("business_id", ASCENDING)])
        await db[MESSAGES].create_index([("conversation", ASCENDING), ("at", DESCENDING)])
        await db[USAGE].create_index([("tenant", ASCENDING), ("day", ASCENDING)])
        await db[USAGE].create_index([("business_id", ASCENDING), ("month", ASCENDING)])
        await db[DOCUMENTS].create_index([("status", ASCENDING)])
        await db[DOCUMENTS].create_index([("business_id", ASCENDING), ("doc_id", ASCENDING)])
        await db[CHUNKS].create_index(
            [("business_id", ASCENDING), ("doc_id", ASCENDING), ("hash", ASCENDING)], unique=True
        )
        await db[CHUNKS].create_index([("business_id", ASCENDING), ("hash", ASCENDING)])


async def ping(db: Database) -> bool:
    with translated("ping", MONGO_ERRORS):
        await db.command("ping")
    return True
