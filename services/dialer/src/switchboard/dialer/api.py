"""Litestar controllers of the campaigns API. Every query is scoped by the token's tenant:
another tenant's campaign answers 404, exactly like one that does not exist."""

from collections import Counter
from concurrent.futures import Executor
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID, uuid4

from litestar import Controller, Request, delete, get, post
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException, ValidationException
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_204_NO_CONTENT

from switchboard.common.auth import Principal, Scope, scoped
from switchboard.dialer import outbox
from switchboard.dialer.accounts import Accounts
from switchboard.dialer.errors import InvalidCampaign, StoreUnavailable
from switchboard.dialer.models import TRANSITIONS, CampaignConfig, CampaignStatus
from switchboard.dialer.phones import normalize
from switchboard.dialer.repository import Campaign, CampaignStore
from switchboard.dialer.schemas import (
    CampaignIn,
    CampaignOut,
    DncIn,
    DncOut,
    ProgressOut,
    Rejection,
    UploadOut,
)
from switchboard.dialer.settings import DialerSettings
from switchboard.dialer.upload import BadUpload, load_csv

MAX_UPLOAD_BYTES = 1 << 30


def campaign_out(c: Campaign) -> CampaignOut:
    return CampaignOut(
        id=c.id,
        name=c.name,
        status=c.status,
        account_sid=c.account_sid,
        cps=c.cps,
        max_concurrent=c.max_concurrent,
        config=c.config,
        created_at=c.created_at,
        updated_at=c.updated_at,
    )


def new_campaign(
    body: CampaignIn, tenant: str, accounts: Accounts, settings: DialerSettings
) -> Campaign:
    """Validate against the control plane's view: an account the tenant holds, caller IDs it
    owns on that account; rates and caps are capped by the account's and the plan's limits
    (and capped again, live, when the campaign dials)."""
    if not accounts.config.ready:
        raise StoreUnavailable("the control plane's configuration is not loaded yet")
    account = accounts.account_of(tenant, body.account_sid)
    unowned = accounts.unowned_caller_ids(tenant, account.id, body.caller_ids)
    if unowned:
        raise InvalidCampaign(
            f"caller IDs not owned by this tenant on account {account.id}: {', '.join(unowned)}"
        )
    limits = accounts.limits(tenant, account.id)
    if limits is None:
        raise InvalidCampaign("this tenant is unknown or suspended")
    try:
        window = body.window.narrowed_to(settings.window.start, settings.window.end)
    except ValueError as exc:
        raise InvalidCampaign(str(exc)) from exc
    config = CampaignConfig(
        caller_ids=body.caller_ids,
        caller_id_strategy=body.caller_id_strategy,
        twiml=body.twiml,
        url=str(body.url) if body.url else None,
        window=window,
        max_attempts=body.max_attempts,
        retry_delays=body.retry_delays,
        amd=body.amd,
        record=body.record,
    )
    return Campaign(
        id=uuid4(),
        tenant_id=tenant,
        name=body.name,
        status=CampaignStatus.DRAFT.value,
        account_sid=account.id,
        cps=limits.cps(body.cps),
        max_concurrent=limits.concurrent(body.max_concurrent),
        config=config,
    )


class CampaignController(Controller):
    path = "/v1/campaigns"
    tags = ("campaigns",)
    guards = (scoped(Scope.CAMPAIGNS_READ, Scope.CAMPAIGNS_WRITE),)

    @post("/", status_code=HTTP_201_CREATED)
    async def create(
        self,
        data: JSONBody[CampaignIn],
        tenant: NamedDependency[str],
        store: NamedDependency[CampaignStore],
        settings: NamedDependency[DialerSettings],
        accounts: NamedDependency[Accounts],
    ) -> CampaignOut:
        """Create a campaign (``draft``)."""
        campaign = new_campaign(data, tenant, accounts, settings)
        return campaign_out(await store.create_campaign(campaign))

    @get("/")
    async def list_campaigns(
        self, tenant: NamedDependency[str], store: NamedDependency[CampaignStore]
    ) -> list[CampaignOut]:
        return [campaign_out(c) for c in await store.list_campaigns(tenant)]

    @get("/{campaign_id:uuid}")
    async def progress(
        self,
        campaign_id: FromPath[UUID],
        tenant: NamedDependency[str],
        store: NamedDependency[CampaignStore],
        clock: NamedDependency[Any],
    ) -> ProgressOut:
        """Status and progress: pending, due, in flight, done by outcome, rate, ETA."""
        campaign = await store.get_campaign(tenant, campaign_id)
        p = await store.progress(campaign, clock())
        rate = p.calls_per_second or (campaign.cps if campaign.status == "running" else 0.0)
        return ProgressOut(
            campaign_id=campaign.id,
            status=campaign.status,
            total=p.pending + p.in_flight + p.done + p.cancelled,
            pending=p.pending,
            due=p.due,
            in_flight=p.in_flight,
            done=p.done,
            cancelled=p.cancelled,
            outcomes=p.outcomes,
            attempts=p.attempts,
            calls_per_second=round(p.calls_per_second, 2),
            eta_seconds=round(p.pending / rate, 1) if rate and p.pending else None,
        )

    @post(
        "/{campaign_id:uuid}/contacts",
        status_code=HTTP_200_OK,
        request_max_body_size=MAX_UPLOAD_BYTES,
    )
    async def upload(
        self,
        request: Request[Principal, Any, Any],
        campaign_id: FromPath[UUID],
        tenant: NamedDependency[str],
        store: NamedDependency[CampaignStore],
        settings: NamedDependency[DialerSettings],
        executor: NamedDependency[Executor | None],
        default_region: Annotated[
            str | None,
            QueryParameter(description="Region of numbers without +country, e.g. US."),
        ] = None,
    ) -> UploadOut:
        """Contacts as CSV (header row; a phone column, optional time_zone, other columns
        become template variables). Invalid, duplicate and do-not-call rows are skipped."""
        campaign = await store.get_campaign(tenant, campaign_id)
        if campaign.status in (CampaignStatus.CANCELLED, CampaignStatus.COMPLETED):
            raise ValidationException(f"campaign is {campaign.status}")
        limit = settings.max_rejections_listed
        try:
            async with store.contact_loader(campaign, limit) as loader:
                result = await load_csv(
                    request.stream(),
                    loader,
                    executor,
                    default_region=default_region,
                    max_listed=limit,
                )
                accepted, db_rejected, db_counts = await loader.finish()
        except BadUpload as exc:
            raise ValidationException(str(exc)) from exc
        counts = Counter(result.counts)
        counts.update(db_counts)
        listed = sorted(result.rejections + db_rejected)[:limit]
        return UploadOut(
            accepted=accepted,
            rejected=sum(counts.values()),
            rejected_by_reason=dict(counts),
            rejections=[Rejection(line=ln, reason=r, value=v) for ln, r, v in listed],
        )

    @post("/{campaign_id:uuid}/{action:str}", status_code=HTTP_200_OK)
    async def command(
        self,
        request: Request[Principal, Any, Any],
        campaign_id: FromPath[UUID],
        action: FromPath[str],
        tenant: NamedDependency[str],
        store: NamedDependency[CampaignStore],
        clock: NamedDependency[Any],
    ) -> CampaignOut:
        """``start``, ``pause``, ``resume`` or ``cancel``: applied in PostgreSQL and
        published to ``dial.commands`` (outbox) so every worker reacts at once."""
        if action not in TRANSITIONS:
            raise NotFoundException(f"no action {action!r}")
        message = outbox.command(campaign_id, tenant, action, request.user.subject, clock())
        return campaign_out(await store.apply_command(tenant, campaign_id, action, message))


class DncController(Controller):
    path = "/v1/dnc"
    tags = ("do-not-call",)
    guards = (scoped(Scope.CAMPAIGNS_READ, Scope.CAMPAIGNS_WRITE),)

    @get("/")
    async def list_dnc(
        self,
        tenant: NamedDependency[str],
        store: NamedDependency[CampaignStore],
        after: FromQuery[str | None] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=10_000)] = 1000,
    ) -> list[DncOut]:
        """The tenant's do-not-call numbers, by number (``after`` = the last one seen)."""
        rows = await store.list_dnc(tenant, after, limit)
        return [DncOut(phone=p, reason=r, created_at=t) for p, r, t in rows]

    @post("/", status_code=HTTP_201_CREATED)
    async def add(
        self,
        data: JSONBody[DncIn],
        tenant: NamedDependency[str],
        store: NamedDependency[CampaignStore],
    ) -> DncOut:
        phone = _e164(data.phone)
        await store.add_dnc(tenant, phone, data.reason)
        return DncOut(phone=phone, reason=data.reason)

    @delete("/{phone:str}", status_code=HTTP_204_NO_CONTENT)
    async def remove(
        self,
        phone: FromPath[str],
        tenant: NamedDependency[str],
        store: NamedDependency[CampaignStore],
    ) -> None:
        if not await store.remove_dnc(tenant, _e164(phone)):
            raise NotFoundException("not on the list")


def _e164(phone: str) -> str:
    e164 = normalize(phone)
    if e164 is None:
        raise ValidationException(f"not a valid phone number: {phone!r}")
    return e164


__all__ = ["CampaignController", "DncController", "datetime"]
