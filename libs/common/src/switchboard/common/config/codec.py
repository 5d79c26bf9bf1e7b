"""Entities ↔ ``control.config`` records.

Value: the entity as JSON, every :data:`~switchboard.common.config.entities.Secret` sealed
with AES-256-GCM under the **distribution key ring** (``SWITCHBOARD_CONFIG__KEYS``), with the
record's key as associated data (a sealed secret copied under another key does not open).
A deleted entity is a tombstone (no value). Headers carry CloudEvents attributes (binary
mode): ``ce_type`` ``switchboard.config.<entity>.v1`` (``….deleted.v1`` for tombstones),
``ce_subject`` the key, ``ce_tenant`` when the entity belongs to one tenant.
"""

import json
import uuid
from datetime import UTC, datetime
from typing import Final

from pydantic import TypeAdapter, ValidationError

from switchboard.common.config.entities import Channel, ConfigEntity, Entity, Sealing, Tenant
from switchboard.common.crypto import Cipher, CryptoError
from switchboard.common.errors import PermanentError

SOURCE: Final = "/switchboard/control"
_ENTITY: Final[TypeAdapter[Entity]] = TypeAdapter(Entity)


class UndecodableConfig(PermanentError):
    """A ``control.config`` record cannot be read (bad JSON, unknown shape, a key not in the
    ring, a value under the wrong key)."""


def wire_context(key: str) -> str:
    """Associated data of the secrets of ``key`` on the topic."""
    return f"control.config:{key}"


def dump_entity(entity: ConfigEntity, cipher: Cipher, context: str) -> dict[str, object]:
    """The entity as a JSON-ready dict, its secrets sealed under ``cipher`` for ``context``."""
    sealing = Sealing(cipher, context)
    dumped: dict[str, object] = entity.model_dump(mode="json", context={"sealing": sealing})
    return dumped


def load_entity(doc: object, cipher: Cipher | None, context: str) -> Entity:
    """An entity from :func:`dump_entity`'s form (secrets opened with ``cipher``)."""
    ctx = {"sealing": Sealing(cipher, context)} if cipher is not None else {}
    try:
        return _ENTITY.validate_python(doc, context=ctx)
    except (ValidationError, CryptoError) as exc:
        raise UndecodableConfig(f"{context}: {exc}") from exc


def entity_type(entity_kind: str, *, deleted: bool = False) -> str:
    return f"switchboard.config.{entity_kind}.{'deleted.' if deleted else ''}v1"


def tenant_of(entity: ConfigEntity) -> str | None:
    if isinstance(entity, Tenant):
        return entity.id
    if isinstance(entity, Channel):
        return entity.tenant
    return None


def _headers(key: str, ce_type: str, tenant: str | None) -> dict[str, bytes]:
    headers = {
        "ce_specversion": "1.0",
        "ce_id": str(uuid.uuid4()),
        "ce_source": SOURCE,
        "ce_type": ce_type,
        "ce_time": datetime.now(UTC).isoformat(),
        "ce_subject": key,
        "content-type": "application/json",
    }
    if tenant:
        headers["ce_tenant"] = tenant
    return {k: v.encode() for k, v in headers.items()}


def encode(entity: ConfigEntity, cipher: Cipher) -> tuple[bytes, bytes, dict[str, bytes]]:
    """(key, value, headers) of the record that publishes ``entity``."""
    key = entity.key
    value = json.dumps(dump_entity(entity, cipher, wire_context(key)), separators=(",", ":"))
    headers = _headers(key, entity_type(entity.entity), tenant_of(entity))
    return key.encode(), value.encode(), headers


def encode_tombstone(key: str) -> tuple[bytes, None, dict[str, bytes]]:
    """(key, None, headers) of the record that deletes ``key``."""
    kind = "signing-key" if key.startswith("signing-key/") else key.split("/", 1)[0]
    return key.encode(), None, _headers(key, entity_type(kind, deleted=True), None)


def decode(key: str, value: bytes, cipher: Cipher | None) -> Entity:
    """The entity of a (non-tombstone) record; UndecodableConfig when it cannot be read."""
    try:
        doc = json.loads(value)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UndecodableConfig(f"{key}: not JSON ({exc})") from exc
    entity = load_entity(doc, cipher, wire_context(key))
    if entity.key != key:
        raise UndecodableConfig(f"{key}: the value is the entity {entity.key}")
    return entity
