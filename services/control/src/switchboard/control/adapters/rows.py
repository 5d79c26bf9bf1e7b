"""Rows ↔ entities, the connection pool, the outbox row and driver-error translation: what
every control-plane adapter shares."""

import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import asyncpg

from switchboard.common.config import (
    AccountBase,
    Channel,
    ConfigEntity,
    ModelPrice,
    PlanLimits,
    SigningKey,
    Tenant,
    UndecodableConfig,
    dump_entity,
    load_entity,
)
from switchboard.common.crypto import Cipher
from switchboard.control.errors import Conflict, StoreUnavailable
from switchboard.control.models import at_rest_context

_ENVELOPE_FIELDS = ("version", "updated_at")


async def _init_connection(conn: "asyncpg.Connection[Any]") -> None:
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def create_pool(dsn: str, min_size: int, max_size: int) -> "asyncpg.Pool[Any]":
    try:
        return await asyncpg.create_pool(
            dsn, min_size=min_size, max_size=max_size, init=_init_connection
        )
    except (asyncpg.PostgresError, OSError) as exc:
        raise StoreUnavailable(f"connect: {exc!r}") from exc


@contextlib.asynccontextmanager
async def translated(what: str) -> AsyncIterator[None]:
    """asyncpg errors → ours: constraint violations are conflicts, the rest may pass later."""
    try:
        yield
    except (asyncpg.UniqueViolationError, asyncpg.ForeignKeyViolationError) as exc:
        raise Conflict(f"{what}: {exc.detail or exc}") from exc
    except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError) as exc:
        raise StoreUnavailable(f"{what}: {exc!r}") from exc


# --- rows ↔ entities ---------------------------------------------------------------------------


def tenant_of(row: asyncpg.Record) -> Tenant:
    return Tenant(
        id=row["id"],
        name=row["name"],
        status=row["status"],
        limits=PlanLimits.model_validate(row["limits"]),
        version=row["version"],
        updated_at=row["updated_at"],
    )


def account_of(row: asyncpg.Record, cipher: Cipher) -> AccountBase:
    key = f"account/{row['provider']}/{row['id']}"
    doc = {**row["state"], "version": row["version"], "updated_at": row["updated_at"]}
    try:
        entity = load_entity(doc, cipher, at_rest_context(key))
    except UndecodableConfig as exc:  # e.g. an at-rest key dropped before rotate-keys ran
        raise StoreUnavailable(f"{key} cannot be opened with the at-rest key ring: {exc}") from exc
    assert isinstance(entity, AccountBase)
    return entity


def sealed_state(account: AccountBase, cipher: Cipher) -> tuple[dict[str, Any], list[str]]:
    """The account as stored (secrets sealed at rest) and the ring keys it uses."""
    doc = dump_entity(account, cipher, at_rest_context(account.key))
    for name in _ENVELOPE_FIELDS:
        doc.pop(name, None)
    return doc, sorted(key_ids(doc))


def key_ids(doc: object) -> set[str]:
    """Ids of the ring keys of every sealed value inside ``doc``."""
    if isinstance(doc, dict):
        if {"kid", "nonce", "ct"} <= doc.keys():
            return {str(doc["kid"])}
        return set().union(*(key_ids(v) for v in doc.values())) if doc else set()
    if isinstance(doc, list):
        return set().union(*(key_ids(v) for v in doc)) if doc else set()
    return set()


def channel_of(row: asyncpg.Record) -> Channel:
    return Channel(
        kind=row["kind"],
        id=row["id"],
        tenant=row["tenant"],
        account_id=row["account_id"],
        waba_id=row["waba_id"],
        number=row["number"],
        version=row["version"],
        updated_at=row["updated_at"],
    )


def signing_key_of(row: asyncpg.Record) -> SigningKey:
    return SigningKey(
        kid=row["kid"],
        public_key=row["public_key"],
        status=row["status"],
        not_after=row["not_after"],
        updated_at=row["created_at"],
    )


def model_of(row: asyncpg.Record) -> ModelPrice:
    return ModelPrice(
        id=row["id"],
        input_per_1k_usd=row["input_per_1k_usd"],
        output_per_1k_usd=row["output_per_1k_usd"],
        version=row["version"],
        updated_at=row["updated_at"],
    )


async def insert_outbox(conn: "asyncpg.Connection[Any]", *keys: str) -> None:
    await conn.executemany("INSERT INTO outbox (key) VALUES ($1)", [(k,) for k in keys])


async def load(conn: "asyncpg.Connection[Any]", key: str, cipher: Cipher) -> ConfigEntity | None:
    """The current entity of ``key`` (None: deleted or never was)."""
    kind, _, rest = key.partition("/")
    if kind == "tenant":
        row = await conn.fetchrow("SELECT * FROM tenants WHERE id = $1", rest)
        return tenant_of(row) if row else None
    if kind == "account":
        provider, _, account_id = rest.partition("/")
        row = await conn.fetchrow(
            "SELECT * FROM accounts WHERE provider = $1 AND id = $2", provider, account_id
        )
        return account_of(row, cipher) if row else None
    if kind == "channel":
        channel_kind, _, channel_id = rest.partition("/")
        row = await conn.fetchrow(
            "SELECT * FROM channels WHERE kind = $1 AND id = $2", channel_kind, channel_id
        )
        return channel_of(row) if row else None
    if kind == "signing-key":
        row = await conn.fetchrow("SELECT * FROM signing_keys WHERE kid = $1", rest)
        return signing_key_of(row) if row else None
    if kind == "model":
        row = await conn.fetchrow("SELECT * FROM models WHERE id = $1", rest)
        return model_of(row) if row else None
    raise ValueError(f"not a configuration key: {key}")
