"""Businesses and the channel ids routed to them. Tokens are stored sealed, never in clear.

Messaging channels (WhatsApp phone_number_ids, Twilio numbers) route through
``business_channels``, voice channels (numbers, Vapi assistants, ElevenLabs agents) through
``business_voice_channels`` (see ``mongo_voice.py``), both keyed by tenant and channel: a
tenant's business claims a channel only among that tenant's businesses. Which tenant owns a
channel is the control plane's to say, not a first-come claim here (see ``owners.py``).
"""

import contextlib
import dataclasses
import uuid
from datetime import UTC, datetime
from typing import Any

import structlog
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from switchboard.ai.adapters.mongo import (
    BINDINGS,
    BINDINGS_MARKER,
    BUSINESSES,
    CHANNELS,
    MONGO_ERRORS,
    Database,
    Doc,
    sealed_from_doc,
    sealed_to_doc,
)
from switchboard.ai.adapters.mongo_replies import template_from_doc, template_to_doc
from switchboard.ai.adapters.mongo_voice import (
    VOICE_CHANNELS,
    profile_from_doc,
    profile_to_doc,
    route_id,
)
from switchboard.ai.errors import ChannelTaken, StoreUnavailable
from switchboard.ai.models import Business
from switchboard.common.errors import translated

log = structlog.get_logger(__name__)
_TOKEN_FIELDS = ("whatsapp_token", "twilio_token")
_TUPLE_FIELDS = ("whatsapp_phone_number_ids", "twilio_numbers")


def business_to_doc(b: Business) -> Doc:
    doc: dict[str, Any] = {f.name: getattr(b, f.name) for f in dataclasses.fields(b)}
    doc["_id"] = doc.pop("id")
    for name in _TUPLE_FIELDS:
        doc[name] = list(doc[name])
    for name in _TOKEN_FIELDS:
        doc[name] = sealed_to_doc(doc[name])
    doc["message_types"] = dict(b.message_types)
    doc["whatsapp_template"] = template_to_doc(b.whatsapp_template)
    doc["voice"] = profile_to_doc(b.voice)
    return doc


def business_from_doc(doc: Doc) -> Business:
    known = {f.name for f in dataclasses.fields(Business)}
    values = {k: v for k, v in doc.items() if k in known}
    values["id"] = doc["_id"]
    for name in _TUPLE_FIELDS:
        values[name] = tuple(doc.get(name) or ())
    for name in _TOKEN_FIELDS:
        values[name] = sealed_from_doc(doc.get(name))
    values["message_types"] = dict(doc.get("message_types") or {})
    values["whatsapp_template"] = template_from_doc(doc.get("whatsapp_template"))
    values["voice"] = profile_from_doc(doc.get("voice"))
    return Business(**values)


class VersionConflict(Exception):
    """The business changed between read and write; the caller reads again."""


class MongoBusinesses:
    """CRUD for the admin API and the channel lookup for the worker."""

    def __init__(self, db: Database) -> None:
        self._businesses = db[BUSINESSES]
        self._channels = db[CHANNELS]
        self._bindings = db[BINDINGS]
        self._voice = db[VOICE_CHANNELS]

    async def bindings_token(self) -> str | None:
        """Changes whenever channels are bound (workers poll it: one ``_id`` read)."""
        with translated("reading the bindings marker", MONGO_ERRORS):
            doc = await self._bindings.find_one({"_id": BINDINGS_MARKER})
        return str(doc["token"]) if doc else None

    async def _bound(self, channel_ids: list[str]) -> None:
        """Move the bindings marker after ``channel_ids`` were bound, so workers forget that
        these channels had no business. A plain ``$set`` of a fresh value: two concurrent
        writers both move it, whichever wins (no conditional update, no ``$inc``)."""
        if not channel_ids:
            return
        update = {"$set": {"token": uuid.uuid4().hex, "at": datetime.now(UTC)}}
        try:
            with translated("moving the bindings marker", MONGO_ERRORS):
                try:
                    await self._bindings.update_one({"_id": BINDINGS_MARKER}, update, upsert=True)
                except DuplicateKeyError:  # another writer inserted it first: now it exists
                    await self._bindings.update_one({"_id": BINDINGS_MARKER}, update)
        except StoreUnavailable as exc:
            # The binding itself is stored; workers then learn of it when their cached "no
            # business" answer expires (cache.unknown_ttl_s) instead of at their next poll.
            log.warning("moving the bindings marker failed", channels=channel_ids, error=str(exc))

    async def upgrade_routes(self) -> int:
        """Give routes written before they were per tenant (``_id`` = the channel id) their
        ``<tenant>|<channel id>`` form; idempotent (the admin API runs it at start)."""
        with translated("upgrading channel routes", MONGO_ERRORS):
            docs = await self._channels.find({}).to_list(None)
            old = [d for d in docs if "|" not in str(d["_id"])]
            for d in old:
                with contextlib.suppress(DuplicateKeyError):  # upgraded, then interrupted
                    await self._channels.insert_one(
                        {
                            "_id": route_id(d["tenant"], d["_id"]),
                            "business_id": d["business_id"],
                            "tenant": d["tenant"],
                        }
                    )
                await self._channels.delete_one({"_id": d["_id"]})
        if old:
            log.info("channel routes upgraded to per-tenant routes", routes=len(old))
        return len(old)

    async def by_channel(self, tenant: str, channel_id: str) -> Business | None:
        """The business of ``tenant`` that answers messages on ``channel_id``."""
        with translated("channel lookup", MONGO_ERRORS):
            route = await self._channels.find_one({"_id": route_id(tenant, channel_id)})
            if route is None:
                return None
            doc = await self._businesses.find_one({"_id": route["business_id"]})
        if doc is None:
            return None
        business = business_from_doc(doc)
        # A claim left by an interrupted update is not a route.
        if business.tenant != tenant or channel_id not in business.channel_ids:
            return None
        return business

    async def by_voice_channel(self, tenant: str, channel: str) -> Business | None:
        """The business of ``tenant`` that serves voice ``channel`` (``kind/id``)."""
        with translated("voice channel lookup", MONGO_ERRORS):
            route = await self._voice.find_one({"_id": route_id(tenant, channel)})
            if route is None:
                return None
            doc = await self._businesses.find_one({"_id": route["business_id"]})
        if doc is None:
            return None
        business = business_from_doc(doc)
        # A claim left by an interrupted update is not a route.
        if business.tenant != tenant or channel not in business.voice.channels:
            return None
        return business

    async def _claim(
        self, routes: AsyncCollection[Doc], business: Business, channels: list[str]
    ) -> None:
        """One route per channel in ``routes`` (a unique ``_id``: the one atomic claim FerretDB
        v1 gives); on a taken one, the ones claimed here are released and ChannelTaken."""
        claimed: list[str] = []
        try:
            for channel in channels:
                with translated("claiming a channel", MONGO_ERRORS):
                    await routes.insert_one(
                        {
                            "_id": route_id(business.tenant, channel),
                            "business_id": business.id,
                            "tenant": business.tenant,
                        }
                    )
                claimed.append(channel)
        except DuplicateKeyError as exc:
            await self._release(routes, business, claimed)
            raise ChannelTaken(channel) from exc

    async def _release(
        self, routes: AsyncCollection[Doc], business: Business, channels: list[str]
    ) -> None:
        if channels:
            ids = [route_id(business.tenant, c) for c in channels]
            with translated("releasing channels", MONGO_ERRORS):
                await routes.delete_many({"_id": {"$in": ids}, "business_id": business.id})

    async def create(self, business: Business) -> None:
        """Claim its channel ids (unique) then insert it; ChannelTaken if one is in use."""
        await self._claim(self._channels, business, list(business.channel_ids))
        try:
            await self._claim(self._voice, business, list(business.voice.channels))
        except ChannelTaken:
            await self._release(self._channels, business, list(business.channel_ids))
            raise
        with translated("creating a business", MONGO_ERRORS):
            await self._businesses.insert_one(business_to_doc(business))
        await self._bound(list(business.channel_ids))

    async def get(self, tenant: str, business_id: str) -> Business | None:
        with translated("reading a business", MONGO_ERRORS):
            doc = await self._businesses.find_one({"_id": business_id, "tenant": tenant})
        return business_from_doc(doc) if doc else None

    async def list_for(self, tenant: str) -> list[Business]:
        with translated("listing businesses", MONGO_ERRORS):
            docs = await self._businesses.find({"tenant": tenant}).sort("name").to_list(None)
        return [business_from_doc(d) for d in docs]

    async def all(self) -> list[Business]:
        with translated("listing businesses", MONGO_ERRORS):
            docs = await self._businesses.find({}).to_list(None)
        return [business_from_doc(d) for d in docs]

    async def replace(self, old: Business, new: Business) -> None:
        """Write ``new`` if the stored version is still ``old``'s; channels follow."""
        added = [c for c in new.channel_ids if c not in old.channel_ids]
        removed = [c for c in old.channel_ids if c not in new.channel_ids]
        voice_added = [c for c in new.voice.channels if c not in old.voice.channels]
        voice_removed = [c for c in old.voice.channels if c not in new.voice.channels]
        await self._claim(self._channels, new, added)
        try:
            await self._claim(self._voice, new, voice_added)
        except ChannelTaken:
            await self._release(self._channels, new, added)
            raise
        doc = business_to_doc(dataclasses.replace(new, version=old.version + 1))
        with translated("updating a business", MONGO_ERRORS):
            result = await self._businesses.replace_one(
                {"_id": old.id, "tenant": old.tenant, "version": old.version}, doc
            )
        if result.matched_count == 0:
            await self._release(self._channels, new, added)
            await self._release(self._voice, new, voice_added)
            raise VersionConflict(old.id)
        await self._release(self._channels, old, removed)
        await self._bound(added)
        await self._release(self._voice, old, voice_removed)

    async def delete(self, tenant: str, business_id: str) -> bool:
        with translated("deleting a business", MONGO_ERRORS):
            result = await self._businesses.delete_one({"_id": business_id, "tenant": tenant})
            if result.deleted_count:
                await self._channels.delete_many({"business_id": business_id})
                await self._voice.delete_many({"business_id": business_id})
        return bool(result.deleted_count)

    async def raw(self, business_id: str) -> Doc | None:
        """The stored document as is (tests read it to prove tokens are sealed)."""
        return await self._businesses.find_one({"_id": business_id})
