"""Bearer tokens for the demo's API calls: from a running control plane, as a tenant's
integration gets them (an API key exchanged for a short-lived token per service), or from a
:class:`~switchboard.common.auth.LocalSigner` the services under test trust.

    tokens = ControlTokens(control_url, operator_key, tenant="local")
    headers = await tokens.bearer(Audience.DIALER)
"""

import time
from collections.abc import Awaitable, Callable
from typing import Protocol

import httpx

from switchboard.common.auth import TENANT_SCOPES, Audience, LocalSigner

REFRESH_MARGIN_S = 60.0
"""A cached token is replaced this long before it expires."""


class TokenSource(Protocol):
    """Gives ``{"Authorization": "Bearer …"}`` for one service's API."""

    def bearer(self, audience: Audience) -> Awaitable[dict[str, str]]: ...


class SignerTokens:
    """Tokens of a LocalSigner (tests: the services were given its public key)."""

    def __init__(self, signer: LocalSigner, tenant: str) -> None:
        self._signer, self._tenant = signer, tenant

    async def bearer(self, audience: Audience) -> dict[str, str]:
        return self._signer.bearer(self._tenant, audience)


class ControlTokens:
    """Tokens from the control plane for ``tenant``: the operator key makes one tenant API key
    (every tenant scope) the first time one is needed, which is then exchanged per audience."""

    def __init__(
        self,
        control_url: str,
        operator_key: str,
        *,
        tenant: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._url, self._operator, self.tenant = control_url, operator_key, tenant
        self._clock = clock
        self._tenant_key: str | None = None
        self._cache: dict[Audience, tuple[float, str]] = {}

    async def _exchange(self, api: httpx.AsyncClient, key: str, audience: Audience) -> str:
        issued = await api.post(
            "/v1/tokens",
            headers={"Authorization": f"Bearer {key}"},
            json={"audience": str(audience)},
        )
        issued.raise_for_status()
        body = issued.json()
        self._cache[audience] = (self._clock() + float(body["expires_in"]), body["access_token"])
        return str(body["access_token"])

    async def operator_bearer(self) -> dict[str, str]:
        """A control-plane token of the operator key (``tenants:admin``)."""
        async with httpx.AsyncClient(base_url=self._url, timeout=30) as api:
            token = await self._exchange(api, self._operator, Audience.CONTROL)
        self._cache.pop(Audience.CONTROL, None)  # the operator's, never a tenant's
        return {"Authorization": f"Bearer {token}"}

    async def bearer(self, audience: Audience) -> dict[str, str]:
        cached = self._cache.get(audience)
        if cached is not None and cached[0] - REFRESH_MARGIN_S > self._clock():
            return {"Authorization": f"Bearer {cached[1]}"}
        async with httpx.AsyncClient(base_url=self._url, timeout=30) as api:
            if self._tenant_key is None:
                operator = await self._exchange(api, self._operator, Audience.CONTROL)
                self._cache.pop(Audience.CONTROL, None)  # the operator's, not the tenant's
                created = await api.post(
                    f"/v1/admin/tenants/{self.tenant}/api-keys",
                    headers={"Authorization": f"Bearer {operator}"},
                    json={"name": "provider-sim demo", "scopes": sorted(TENANT_SCOPES)},
                )
                created.raise_for_status()
                self._tenant_key = str(created.json()["key"])
            token = await self._exchange(api, self._tenant_key, audience)
        return {"Authorization": f"Bearer {token}"}
