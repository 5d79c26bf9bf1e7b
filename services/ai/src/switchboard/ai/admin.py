"""Admin use cases behind the API: businesses with sealed tokens, knowledge, usage, key rotation."""

import dataclasses
import hashlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import structlog

from switchboard.ai import owners, plans
from switchboard.ai.adapters.http_tools import tool_secret_context
from switchboard.ai.adapters.mongo_businesses import MongoBusinesses, VersionConflict
from switchboard.ai.adapters.mongo_knowledge import KnowledgeDocument, MongoKnowledge
from switchboard.ai.adapters.mongo_replies import MongoUsage
from switchboard.ai.adapters.tool_targets import url_problem
from switchboard.ai.cache import token_context
from switchboard.ai.models import Business
from switchboard.ai.owners import FollowedConfig
from switchboard.ai.schemas import BusinessCreate, BusinessSettingsFields, BusinessUpdate, UsageOut
from switchboard.ai.voice_models import ToolSpec, TransferRule, VoiceProfile
from switchboard.ai.voice_schemas import VoiceIn, parse_interval
from switchboard.common.crypto import Cipher

log = structlog.get_logger(__name__)
_TOKEN_INPUTS = {"whatsapp_access_token": "whatsapp", "twilio_auth_token": "twilio"}
_MAX_CONFLICT_RETRIES = 5
_CLEARABLE = frozenset(
    {"fallback_text", "twilio_account_sid", "reasoning_effort", "whatsapp_template"}
)
"""Fields a PATCH may set to null."""


class NotFound(LookupError):
    """No such business (or document) for this tenant."""


class DocumentTooLarge(ValueError):
    """A knowledge document above ``knowledge.max_document_chars``."""


class ChannelNotOwned(ValueError):
    """A channel the business's tenant does not own in the control plane. The same answer
    whether nobody or another tenant owns it: a refusal tells nothing about other tenants."""

    def __init__(self, channel: str) -> None:
        super().__init__(
            f"channel {channel} is not bound to your tenant in the control plane: "
            "bind it there first (POST /v1/channels on the control plane)"
        )
        self.channel = channel


class ModelNotAllowed(ValueError):
    """A model the platform does not offer, or the tenant's plan does not allow (API: 422)."""


class ConfigNotReady(RuntimeError):
    """The control plane's configuration is not read yet (API: 503, retry)."""


class VoiceInvalid(ValueError):
    """A voice profile the service cannot use (a tool endpoint it may not call, an http tool
    without a signing secret)."""


@dataclass(slots=True)
class AdminService:
    businesses: MongoBusinesses
    knowledge: MongoKnowledge
    usage: MongoUsage
    cipher: Cipher
    default_model: str
    max_document_chars: int = 200_000
    allow_private_tools: bool = False
    """Tool endpoints may be private or loopback addresses (the local environment only)."""
    now: Callable[[], datetime] = lambda: datetime.now(UTC)
    config: FollowedConfig = field(kw_only=True)
    """The control plane's configuration: the channels each tenant owns."""

    def _check_model(self, before: Business | None, after: Business) -> None:
        """A new business's model, or a changed one, is offered and in the tenant's plan."""
        if before is not None and before.model == after.model:
            return
        if not self.config.ready:
            raise ConfigNotReady("the control plane's configuration is still being read")
        problem = plans.model_problem(self.config, after.tenant, after.model, self.default_model)
        if problem is not None:
            raise ModelNotAllowed(problem)

    def _check_channels(self, before: Business | None, after: Business) -> None:
        """Every channel ``after`` adds is owned by its tenant in the control plane (channels
        it already had stay: the worker answers them only while the tenant owns them)."""
        had = set(_channels(before)) if before is not None else set()
        added = [c for c in _channels(after) if c not in had]
        if not added:
            return
        if not self.config.ready:
            raise ConfigNotReady("the control plane's configuration is still being read")
        for channel in added:
            if owners.owner(self.config, channel).tenant != after.tenant:
                raise ChannelNotOwned(channel)

    def _apply(self, business: Business, fields: BusinessSettingsFields) -> Business:
        changes: dict[str, Any] = {}
        for name, value in fields.model_dump(exclude_unset=True).items():
            if name in _TOKEN_INPUTS:
                if value is not None:
                    kind = _TOKEN_INPUTS[name]
                    sealed = self.cipher.seal(value, token_context(business.id, kind))
                    changes[f"{kind}_token"] = sealed
            elif name in ("whatsapp_phone_number_ids", "twilio_numbers"):
                changes[name] = tuple(dict.fromkeys(value or ()))
            elif name == "whatsapp_template":
                template = fields.whatsapp_template
                changes[name] = template.to_template() if template is not None else None
            elif name == "message_types":
                changes[name] = dict(value or {})
            elif name == "voice":
                voice = fields.voice
                changes[name] = (
                    self._voice(business, voice) if voice is not None else VoiceProfile()
                )
            elif value is not None or name in _CLEARABLE:
                changes[name] = value
        return dataclasses.replace(business, **changes)

    def _voice(self, business: Business, voice: VoiceIn) -> VoiceProfile:
        """The profile of ``voice``: tool secrets sealed (an http tool's secret left out of an
        update is the one it had), endpoints checked."""
        tools = []
        for t in voice.tools:
            sealed = None
            if t.kind == "http":
                assert t.url is not None  # ToolIn checks it
                problem = url_problem(t.url, allow_private=self.allow_private_tools)
                if problem:
                    raise VoiceInvalid(f"tool {t.name}: {problem}")
                if t.signing_secret is not None:
                    context = tool_secret_context(business.id, t.name)
                    sealed = self.cipher.seal(t.signing_secret, context)
                else:
                    earlier = business.voice.tool(t.name)
                    sealed = earlier.signing_secret if earlier and earlier.kind == "http" else None
                    if sealed is None:
                        raise VoiceInvalid(f"tool {t.name}: an http tool needs a signing_secret")
            tools.append(ToolSpec(t.name, t.kind, t.description, t.url, sealed, t.timeout_s))
        return VoiceProfile(
            channels=tuple(voice.channels),
            time_zone=voice.time_zone,
            hours={
                day: tuple(sorted((parse_interval(x) for x in spans), key=lambda i: i.start))
                for day, spans in voice.hours.items()
                if spans
            },
            vapi_assistant_id=voice.vapi_assistant_id,
            vapi_assistant=voice.vapi_assistant,
            variables=dict(voice.variables),
            transfer_rules=tuple(
                TransferRule(tuple(r.days), parse_interval(r.window), r.number, r.message)
                for r in voice.transfer_rules
            ),
            transfer_number=voice.transfer_number,
            transfer_message=voice.transfer_message,
            elevenlabs_allowed_overrides=tuple(voice.elevenlabs_allowed_overrides),
            elevenlabs_overrides=dict(voice.elevenlabs_overrides),
            tools=tuple(tools),
        )

    async def create(self, tenant: str, data: BusinessCreate) -> Business:
        blank = Business(
            id=uuid.uuid4().hex, tenant=tenant, name=data.name, model=self.default_model
        )
        business = self._apply(blank, data)
        self._check_model(None, business)
        self._check_channels(None, business)
        await self.businesses.create(business)
        log.info("business created", business_id=business.id, tenant=tenant)
        return business

    async def get(self, tenant: str, business_id: str) -> Business:
        business = await self.businesses.get(tenant, business_id)
        if business is None:
            raise NotFound(business_id)
        return business

    async def update(self, tenant: str, business_id: str, data: BusinessUpdate) -> Business:
        for _ in range(_MAX_CONFLICT_RETRIES):
            current = await self.get(tenant, business_id)
            updated = self._apply(current, data)
            self._check_model(current, updated)
            self._check_channels(current, updated)
            try:
                await self.businesses.replace(current, updated)
            except VersionConflict:
                continue
            return dataclasses.replace(updated, version=current.version + 1)
        raise VersionConflict(business_id)

    async def delete(self, tenant: str, business_id: str) -> None:
        if not await self.businesses.delete(tenant, business_id):
            raise NotFound(business_id)
        await self.knowledge.delete_business(business_id)

    async def put_document(
        self, tenant: str, business_id: str, doc_id: str, title: str, content: str
    ) -> KnowledgeDocument:
        if len(content) > self.max_document_chars:
            raise DocumentTooLarge(f"document longer than {self.max_document_chars} characters")
        await self.get(tenant, business_id)
        digest = hashlib.sha256(content.encode()).hexdigest()
        return await self.knowledge.put_document(
            tenant, business_id, doc_id, title, content, digest, self.now()
        )

    async def documents(self, tenant: str, business_id: str) -> list[KnowledgeDocument]:
        await self.get(tenant, business_id)
        return await self.knowledge.documents(tenant, business_id)

    async def delete_document(self, tenant: str, business_id: str, doc_id: str) -> None:
        await self.get(tenant, business_id)
        if not await self.knowledge.delete_document(tenant, business_id, doc_id):
            raise NotFound(doc_id)

    async def usage_daily(
        self, tenant: str, business_id: str | None, start: str | None, end: str | None
    ) -> list[UsageOut]:
        rows = await self.usage.daily(tenant, business_id, start, end)
        return [
            UsageOut(
                business_id=r["business_id"],
                day=r["day"],
                prompt_tokens=int(r.get("prompt_tokens", 0)),
                completion_tokens=int(r.get("completion_tokens", 0)),
                replies=int(r.get("replies", 0)),
                fallbacks=int(r.get("fallbacks", 0)),
                cost_usd=round(float(r.get("cost_usd", 0.0)), 8),
            )
            for r in rows
        ]


def _channels(business: Business) -> list[str]:
    """Every channel of ``business`` as the control plane names it (``kind/id``)."""
    return [
        *(owners.whatsapp_channel(c) for c in business.whatsapp_phone_number_ids),
        *(owners.phone_channel(n) for n in business.twilio_numbers),
        *business.voice.channels,
    ]


async def rotate_keys(businesses: MongoBusinesses, cipher: Cipher) -> int:
    """Re-encrypt every token not under the current key; returns how many businesses changed."""
    rotated = 0
    for business in await businesses.all():
        changes: dict[str, Any] = {}
        for kind in ("whatsapp", "twilio"):
            sealed = getattr(business, f"{kind}_token")
            if sealed is not None and cipher.needs_rotation(sealed):
                changes[f"{kind}_token"] = cipher.rotate(sealed, token_context(business.id, kind))
        if not changes:
            continue
        try:
            await businesses.replace(business, dataclasses.replace(business, **changes))
        except VersionConflict:
            log.warning("business changed during rotation; run rotate-keys again", id=business.id)
            continue
        rotated += 1
    log.info("keys rotated", businesses=rotated, current_key_id=cipher.current_key_id)
    return rotated
