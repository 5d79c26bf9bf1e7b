"""Admin API (Litestar, JWT with a ``tenant`` claim): businesses, knowledge, usage.

A tenant sees only its own businesses: every read and write filters by the token's tenant,
and someone else's business answers 404, exactly like one that does not exist. A business
uses only channels its tenant owns in the control plane (422 otherwise, the same answer
whether the channel is nobody's or another tenant's), and only models the platform offers and
the tenant's plan allows (422 otherwise).
"""

from datetime import date
from typing import Annotated

from litestar import Controller, delete, get, patch, post, put
from litestar.di import NamedDependency
from litestar.exceptions import (
    HTTPException,
    NotFoundException,
    ServiceUnavailableException,
    ValidationException,
)
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from litestar.status_codes import (
    HTTP_202_ACCEPTED,
    HTTP_409_CONFLICT,
    HTTP_413_REQUEST_ENTITY_TOO_LARGE,
    HTTP_422_UNPROCESSABLE_ENTITY,
)

from switchboard.ai.adapters.mongo_businesses import VersionConflict
from switchboard.ai.adapters.mongo_knowledge import KnowledgeDocument
from switchboard.ai.admin import (
    AdminService,
    ChannelNotOwned,
    ConfigNotReady,
    DocumentTooLarge,
    ModelNotAllowed,
    NotFound,
    VoiceInvalid,
)
from switchboard.ai.errors import ChannelTaken
from switchboard.ai.schemas import (
    BusinessCreate,
    BusinessOut,
    BusinessUpdate,
    DocumentIn,
    DocumentOut,
    UsageOut,
)
from switchboard.common.auth import Scope, requires, scoped


class Conflict(HTTPException):
    status_code = HTTP_409_CONFLICT


class TooLarge(HTTPException):
    status_code = HTTP_413_REQUEST_ENTITY_TOO_LARGE


class Unprocessable(HTTPException):
    status_code = HTTP_422_UNPROCESSABLE_ENTITY


def _doc_out(d: KnowledgeDocument) -> DocumentOut:
    return DocumentOut(
        doc_id=d.doc_id,
        title=d.title,
        status=d.status,
        content_hash=d.content_hash,
        chunks=d.chunks,
        updated_at=d.updated_at,
    )


class BusinessController(Controller):
    path = "/v1/businesses"
    guards = (scoped(Scope.BUSINESSES_READ, Scope.BUSINESSES_ADMIN),)
    tags = ("businesses",)

    @post("/")
    async def create_business(
        self,
        data: JSONBody[BusinessCreate],
        tenant: NamedDependency[str],
        admin: NamedDependency[AdminService],
    ) -> BusinessOut:
        try:
            return BusinessOut.of(await admin.create(tenant, data))
        except ChannelTaken as exc:
            raise Conflict(detail=str(exc)) from exc
        except (ChannelNotOwned, ModelNotAllowed) as exc:
            raise Unprocessable(detail=str(exc)) from exc
        except ConfigNotReady as exc:
            raise ServiceUnavailableException(detail=str(exc)) from exc
        except VoiceInvalid as exc:
            raise ValidationException(detail=str(exc)) from exc

    @get("/")
    async def list_businesses(
        self, tenant: NamedDependency[str], admin: NamedDependency[AdminService]
    ) -> list[BusinessOut]:
        return [BusinessOut.of(b) for b in await admin.businesses.list_for(tenant)]

    @get("/{business_id:str}")
    async def get_business(
        self,
        business_id: FromPath[str],
        tenant: NamedDependency[str],
        admin: NamedDependency[AdminService],
    ) -> BusinessOut:
        try:
            return BusinessOut.of(await admin.get(tenant, business_id))
        except NotFound as exc:
            raise NotFoundException(detail="no such business") from exc

    @patch("/{business_id:str}")
    async def update_business(
        self,
        business_id: FromPath[str],
        data: JSONBody[BusinessUpdate],
        tenant: NamedDependency[str],
        admin: NamedDependency[AdminService],
    ) -> BusinessOut:
        try:
            return BusinessOut.of(await admin.update(tenant, business_id, data))
        except NotFound as exc:
            raise NotFoundException(detail="no such business") from exc
        except ChannelTaken as exc:
            raise Conflict(detail=str(exc)) from exc
        except (ChannelNotOwned, ModelNotAllowed) as exc:
            raise Unprocessable(detail=str(exc)) from exc
        except ConfigNotReady as exc:
            raise ServiceUnavailableException(detail=str(exc)) from exc
        except VoiceInvalid as exc:
            raise ValidationException(detail=str(exc)) from exc
        except VersionConflict as exc:
            raise Conflict(detail="business is being changed concurrently; retry") from exc

    @delete("/{business_id:str}")
    async def delete_business(
        self,
        business_id: FromPath[str],
        tenant: NamedDependency[str],
        admin: NamedDependency[AdminService],
    ) -> None:
        try:
            await admin.delete(tenant, business_id)
        except NotFound as exc:
            raise NotFoundException(detail="no such business") from exc

    @put("/{business_id:str}/documents/{doc_id:str}", status_code=HTTP_202_ACCEPTED)
    async def put_document(
        self,
        business_id: FromPath[str],
        doc_id: FromPath[str],
        data: JSONBody[DocumentIn],
        tenant: NamedDependency[str],
        admin: NamedDependency[AdminService],
    ) -> DocumentOut:
        """Create or replace a knowledge document; the worker embeds what changed."""
        try:
            doc = await admin.put_document(tenant, business_id, doc_id, data.title, data.content)
        except NotFound as exc:
            raise NotFoundException(detail="no such business") from exc
        except DocumentTooLarge as exc:
            raise TooLarge(detail=str(exc)) from exc
        return _doc_out(doc)

    @get("/{business_id:str}/documents")
    async def list_documents(
        self,
        business_id: FromPath[str],
        tenant: NamedDependency[str],
        admin: NamedDependency[AdminService],
    ) -> list[DocumentOut]:
        try:
            return [_doc_out(d) for d in await admin.documents(tenant, business_id)]
        except NotFound as exc:
            raise NotFoundException(detail="no such business") from exc

    @delete("/{business_id:str}/documents/{doc_id:str}")
    async def delete_document(
        self,
        business_id: FromPath[str],
        doc_id: FromPath[str],
        tenant: NamedDependency[str],
        admin: NamedDependency[AdminService],
    ) -> None:
        try:
            await admin.delete_document(tenant, business_id, doc_id)
        except NotFound as exc:
            raise NotFoundException(detail="no such business or document") from exc


class UsageController(Controller):
    path = "/v1/usage"
    tags = ("usage",)
    guards = (requires(Scope.BUSINESSES_READ),)

    @get("/")
    async def usage(
        self,
        tenant: NamedDependency[str],
        admin: NamedDependency[AdminService],
        business_id: FromQuery[str | None] = None,
        start: Annotated[date | None, QueryParameter(name="from")] = None,
        end: Annotated[date | None, QueryParameter(name="to")] = None,
    ) -> list[UsageOut]:
        """Tokens in/out, replies and cost per business per day (UTC days, inclusive range)."""
        return await admin.usage_daily(
            tenant,
            business_id,
            start.isoformat() if start else None,
            end.isoformat() if end else None,
        )
