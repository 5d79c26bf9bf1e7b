"""Litestar controllers of the control API.

- ``POST /v1/tokens``: an API key (``Authorization: Bearer sbk_…``) for a short-lived token
  of one audience; ``GET /v1/signing-keys``: the public keys that verify them. Both open.
- ``/v1/admin/…``: the operator (``tenants:admin``): tenants and limits, accounts, channel
  placement, the models the platform offers and their prices, API keys of any tenant,
  signing-key rotation.
- ``/v1/…``: a tenant, scoped to its token's tenant: its record, accounts (secrets masked)
  and their rotation, channel binding, its API keys.
"""

from typing import Annotated, Any

from litestar import Controller, Request, delete, get, patch, post, put
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_204_NO_CONTENT

from switchboard.common.auth import Principal, Scope, requires
from switchboard.common.config import (
    CHANNEL_KINDS,
    PROVIDERS,
    Channel,
    ChannelKind,
    ModelPrice,
    Provider,
    Tenant,
)
from switchboard.common.config.entities import channel_id_problem
from switchboard.control.errors import BadCredentials, InvalidRequest, NotFound
from switchboard.control.handlers import ControlPlane
from switchboard.control.models import ApiKey, IssuedApiKey, parse_account
from switchboard.control.schemas import (
    ApiKeyCreate,
    ApiKeyIssued,
    ApiKeyOut,
    ChannelBind,
    ChannelPlace,
    ModelPriceIn,
    SigningKeyOut,
    TenantCreate,
    TenantPatch,
    TokenOut,
    TokenRequest,
)

HolderQuery = Annotated[str | None, QueryParameter(name="tenant")]
"""``?tenant=`` of the operator's lists (not named ``tenant`` in Python: that name is the
dependency giving a tenant caller's own tenant)."""


def provider_of(value: str) -> Provider:
    for provider in PROVIDERS:
        if provider == value:
            return provider
    raise NotFound(f"no provider {value}")


def kind_of(value: str) -> ChannelKind:
    for kind in CHANNEL_KINDS:
        if kind == value:
            return kind
    raise NotFound(f"no channel kind {value}")


def channel(kind: str, channel_id: str, tenant: str, body: ChannelBind) -> Channel:
    checked = kind_of(kind)
    problem = channel_id_problem(checked, channel_id)
    if problem:
        raise InvalidRequest(problem, [{"key": "channel_id", "message": problem}])
    return Channel(
        kind=checked,
        id=channel_id,
        tenant=tenant,
        account_id=body.account_id,
        waba_id=body.waba_id,
        number=body.number,
    )


def account_out(account: Any) -> dict[str, Any]:
    """The account with every secret masked (a list shows how many there are)."""
    dumped: dict[str, Any] = account.model_dump(mode="json")
    return dumped


def key_out(key: ApiKey) -> ApiKeyOut:
    return ApiKeyOut(
        id=key.id,
        tenant=key.tenant,
        name=key.name,
        scopes=sorted(key.scopes),
        created_at=key.created_at,
        revoked_at=key.revoked_at,
    )


def issued_out(issued: IssuedApiKey) -> ApiKeyIssued:
    return ApiKeyIssued(**key_out(issued.record).model_dump(), key=issued.plaintext)


def principal_of(request: Request[Principal, Any, Any]) -> Principal:
    return request.user


class TokenController(Controller):
    """Exchange an API key for an access token; the public keys that verify tokens."""

    path = "/v1"
    tags = ("tokens",)

    @post("/tokens", status_code=HTTP_200_OK)
    async def issue(
        self,
        request: Request[Any, Any, Any],
        data: JSONBody[TokenRequest],
        plane: NamedDependency[ControlPlane],
    ) -> TokenOut:
        """``Authorization: Bearer <API key>``; the token carries the key's scopes for the
        audience (or the requested subset)."""
        scheme, _, key = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            raise BadCredentials
        issued = await plane.exchange(key.strip(), data.audience, data.scopes, data.ttl_s)
        return TokenOut(
            access_token=issued.access_token,
            expires_in=issued.expires_in,
            audience=issued.audience,
            scope=" ".join(sorted(issued.scopes)),
        )

    @get("/signing-keys")
    async def signing_keys(self, plane: NamedDependency[ControlPlane]) -> list[SigningKeyOut]:
        """Every public key a token may currently be signed with (by ``kid``)."""
        return [
            SigningKeyOut(
                kid=k.kid, public_key=k.public_key, status=k.status, not_after=k.not_after
            )
            for k in await plane.credentials.signing_keys()
        ]


class OperatorController(Controller):
    """The platform operator's endpoints (``tenants:admin``)."""

    path = "/v1/admin"
    tags = ("operator",)
    guards = (requires(Scope.TENANTS_ADMIN),)

    @post("/tenants", status_code=HTTP_201_CREATED)
    async def create_tenant(
        self, data: JSONBody[TenantCreate], plane: NamedDependency[ControlPlane]
    ) -> Tenant:
        if await plane.entities.get_tenant(data.id) is not None:
            raise InvalidRequest(f"tenant {data.id} exists", [{"key": "id", "message": "taken"}])
        stored, _ = await plane.put_tenant(Tenant.model_validate(data.model_dump()))
        return stored

    @get("/tenants")
    async def list_tenants(self, plane: NamedDependency[ControlPlane]) -> list[Tenant]:
        return await plane.entities.list_tenants()

    @get("/tenants/{tenant_id:str}")
    async def get_tenant(
        self, tenant_id: FromPath[str], plane: NamedDependency[ControlPlane]
    ) -> Tenant:
        return await plane.tenant(tenant_id)

    @patch("/tenants/{tenant_id:str}")
    async def update_tenant(
        self,
        tenant_id: FromPath[str],
        data: JSONBody[TenantPatch],
        plane: NamedDependency[ControlPlane],
    ) -> Tenant:
        return await plane.update_tenant(
            tenant_id, name=data.name, status=data.status, limits=data.limits
        )

    @delete("/tenants/{tenant_id:str}", status_code=HTTP_204_NO_CONTENT)
    async def delete_tenant(
        self, tenant_id: FromPath[str], plane: NamedDependency[ControlPlane]
    ) -> None:
        await plane.delete_tenant(tenant_id)

    @put("/accounts/{provider:str}/{account_id:str}")
    async def put_account(
        self,
        provider: FromPath[str],
        account_id: FromPath[str],
        data: JSONBody[dict[str, Any]],
        plane: NamedDependency[ControlPlane],
    ) -> dict[str, Any]:
        """Create or replace an account: ``tenants`` holding it, secrets, settings."""
        doc = {**data, "provider": provider_of(provider), "id": account_id}
        stored, _ = await plane.put_account(parse_account(doc))
        return account_out(stored)

    @get("/accounts")
    async def list_accounts(
        self, plane: NamedDependency[ControlPlane], holder: HolderQuery = None
    ) -> list[dict[str, Any]]:
        return [account_out(a) for a in await plane.entities.list_accounts(holder)]

    @get("/accounts/{provider:str}/{account_id:str}")
    async def get_account(
        self,
        provider: FromPath[str],
        account_id: FromPath[str],
        plane: NamedDependency[ControlPlane],
    ) -> dict[str, Any]:
        return account_out(await plane.account(provider_of(provider), account_id))

    @delete("/accounts/{provider:str}/{account_id:str}", status_code=HTTP_204_NO_CONTENT)
    async def delete_account(
        self,
        provider: FromPath[str],
        account_id: FromPath[str],
        plane: NamedDependency[ControlPlane],
    ) -> None:
        await plane.delete_account(provider_of(provider), account_id)

    @put("/channels/{kind:str}/{channel_id:str}")
    async def place_channel(
        self,
        kind: FromPath[str],
        channel_id: FromPath[str],
        data: JSONBody[ChannelPlace],
        plane: NamedDependency[ControlPlane],
    ) -> Channel:
        """Bind a channel to a tenant, or move it from another one."""
        stored, _ = await plane.bind(None, channel(kind, channel_id, data.tenant, data))
        return stored

    @delete("/channels/{kind:str}/{channel_id:str}", status_code=HTTP_204_NO_CONTENT)
    async def remove_channel(
        self, kind: FromPath[str], channel_id: FromPath[str], plane: NamedDependency[ControlPlane]
    ) -> None:
        await plane.unbind(None, kind_of(kind), channel_id)

    @get("/channels")
    async def list_channels(
        self, plane: NamedDependency[ControlPlane], holder: HolderQuery = None
    ) -> list[Channel]:
        return await plane.entities.list_channels(holder)

    @put("/models/{model_id:str}")
    async def put_model(
        self,
        model_id: FromPath[str],
        data: JSONBody[ModelPriceIn],
        plane: NamedDependency[ControlPlane],
    ) -> ModelPrice:
        """Offer a model at these prices, or change them (the tenants' plans name the models
        their businesses may use among these)."""
        stored, _ = await plane.put_model(ModelPrice(id=model_id, **data.model_dump()))
        return stored

    @get("/models")
    async def list_models(self, plane: NamedDependency[ControlPlane]) -> list[ModelPrice]:
        return await plane.entities.list_models()

    @delete("/models/{model_id:str}", status_code=HTTP_204_NO_CONTENT)
    async def delete_model(
        self, model_id: FromPath[str], plane: NamedDependency[ControlPlane]
    ) -> None:
        await plane.delete_model(model_id)

    @post("/tenants/{tenant_id:str}/api-keys", status_code=HTTP_201_CREATED)
    async def create_tenant_key(
        self,
        tenant_id: FromPath[str],
        data: JSONBody[ApiKeyCreate],
        plane: NamedDependency[ControlPlane],
    ) -> ApiKeyIssued:
        return issued_out(await plane.create_api_key(tenant_id, data.name, data.scopes))

    @post("/api-keys", status_code=HTTP_201_CREATED)
    async def create_operator_key(
        self, data: JSONBody[ApiKeyCreate], plane: NamedDependency[ControlPlane]
    ) -> ApiKeyIssued:
        return issued_out(await plane.create_api_key(None, data.name, data.scopes))

    @get("/api-keys")
    async def list_keys(
        self, plane: NamedDependency[ControlPlane], holder: HolderQuery = None
    ) -> list[ApiKeyOut]:
        """``?tenant=`` for a tenant's keys; without it, the operator keys."""
        return [key_out(k) for k in await plane.api_keys(holder)]

    @delete("/api-keys/{key_id:str}", status_code=HTTP_204_NO_CONTENT)
    async def revoke_key(self, key_id: FromPath[str], plane: NamedDependency[ControlPlane]) -> None:
        await plane.revoke_api_key(key_id, None)

    @post("/signing-keys/rotate", status_code=HTTP_200_OK)
    async def rotate_signing_key(self, plane: NamedDependency[ControlPlane]) -> dict[str, str]:
        return {"kid": await plane.rotate_signing_key()}


class TenantController(Controller):
    """A tenant's own configuration (the tenant is the token's, never a parameter)."""

    path = "/v1"
    tags = ("tenant",)

    @get("/tenant", guards=[requires(Scope.CONTROL_READ)])
    async def me(
        self, tenant: NamedDependency[str], plane: NamedDependency[ControlPlane]
    ) -> Tenant:
        return await plane.tenant(tenant)

    @get("/accounts", guards=[requires(Scope.CONTROL_READ)])
    async def accounts(
        self, tenant: NamedDependency[str], plane: NamedDependency[ControlPlane]
    ) -> list[dict[str, Any]]:
        return [account_out(a) for a in await plane.entities.list_accounts(tenant)]

    @put(
        "/accounts/{provider:str}/{account_id:str}/secrets",
        guards=[requires(Scope.ACCOUNTS_WRITE)],
    )
    async def replace_secrets(
        self,
        provider: FromPath[str],
        account_id: FromPath[str],
        data: JSONBody[dict[str, Any]],
        tenant: NamedDependency[str],
        plane: NamedDependency[ControlPlane],
    ) -> dict[str, Any]:
        """Replace whole secret lists, e.g. ``{"auth_tokens": ["new", "old"]}`` while
        rotating, then ``{"auth_tokens": ["new"]}``."""
        return account_out(
            await plane.replace_secrets(tenant, provider_of(provider), account_id, data)
        )

    @get("/channels", guards=[requires(Scope.CONTROL_READ)])
    async def channels(
        self, tenant: NamedDependency[str], plane: NamedDependency[ControlPlane]
    ) -> list[Channel]:
        return await plane.entities.list_channels(tenant)

    @put("/channels/{kind:str}/{channel_id:str}", guards=[requires(Scope.CHANNELS_WRITE)])
    async def bind(
        self,
        kind: FromPath[str],
        channel_id: FromPath[str],
        data: JSONBody[ChannelBind],
        tenant: NamedDependency[str],
        plane: NamedDependency[ControlPlane],
    ) -> Channel:
        stored, _ = await plane.bind(tenant, channel(kind, channel_id, tenant, data))
        return stored

    @delete(
        "/channels/{kind:str}/{channel_id:str}",
        guards=[requires(Scope.CHANNELS_WRITE)],
        status_code=HTTP_204_NO_CONTENT,
    )
    async def unbind(
        self,
        kind: FromPath[str],
        channel_id: FromPath[str],
        tenant: NamedDependency[str],
        plane: NamedDependency[ControlPlane],
    ) -> None:
        await plane.unbind(tenant, kind_of(kind), channel_id)

    @get("/api-keys", guards=[requires(Scope.KEYS_ADMIN)])
    async def keys(
        self, tenant: NamedDependency[str], plane: NamedDependency[ControlPlane]
    ) -> list[ApiKeyOut]:
        return [key_out(k) for k in await plane.api_keys(tenant)]

    @post("/api-keys", guards=[requires(Scope.KEYS_ADMIN)], status_code=HTTP_201_CREATED)
    async def create_key(
        self,
        data: JSONBody[ApiKeyCreate],
        tenant: NamedDependency[str],
        principal: NamedDependency[Principal],
        plane: NamedDependency[ControlPlane],
    ) -> ApiKeyIssued:
        issued = await plane.create_api_key(tenant, data.name, data.scopes, creator=principal)
        return issued_out(issued)

    @delete(
        "/api-keys/{key_id:str}",
        guards=[requires(Scope.KEYS_ADMIN)],
        status_code=HTTP_204_NO_CONTENT,
    )
    async def revoke_key(
        self,
        key_id: FromPath[str],
        tenant: NamedDependency[str],
        plane: NamedDependency[ControlPlane],
    ) -> None:
        await plane.revoke_api_key(key_id, tenant)
