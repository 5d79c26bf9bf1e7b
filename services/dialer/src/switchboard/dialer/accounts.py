"""What the control plane says the dialer may do for a tenant, read live from its
configuration view (``control.config``): the Twilio accounts the tenant holds (with their
credentials and Twilio-side limits), the caller IDs it owns (``phone`` channels), and its
plan limits. Every lookup reads the current view, so a rotated token, a new number or a
changed limit is used by the next call without a restart.

    tenant/<id>                    Tenant          plan limits (calls/s, concurrent calls),
                                                   per tenant, across its campaigns
    account/twilio/<AccountSid>    TwilioAccount   auth tokens / API keys, cps, max_concurrent
    channel/phone/<E.164>          Channel         the number's tenant and account
"""

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from switchboard.common.config import Channel, ConfigView, Tenant, TwilioAccount
from switchboard.dialer.errors import InvalidCampaign

PREFIXES: Final = ("tenant/", "account/twilio/", "channel/phone/")
"""The slice of ``control.config`` the dialer follows."""


@dataclass(frozen=True, slots=True)
class Limits:
    """The rates and caps one campaign's calls run under, now. The account's and the tenant's
    are shared: the account's by every campaign on it, the tenant's plan by all the tenant's
    campaigns on all its accounts. The pacer holds each at its own level; :meth:`cps` and
    :meth:`concurrent` are what one campaign could reach alone (its own level, and display)."""

    account_cps: float
    account_concurrent: int
    tenant_cps: float
    tenant_concurrent: int

    def cps(self, campaign_cps: float) -> float:
        return min(campaign_cps, self.account_cps, self.tenant_cps)

    def concurrent(self, campaign_cap: int) -> int:
        return min(campaign_cap, self.account_concurrent, self.tenant_concurrent)


class Accounts:
    """The dialer's reading of the configuration view."""

    def __init__(self, config: ConfigView) -> None:
        self.config = config

    def tenant(self, tenant_id: str) -> Tenant | None:
        """The tenant when it exists and is active (a suspended one places no calls)."""
        entity = self.config.get(f"tenant/{tenant_id}")
        if isinstance(entity, Tenant) and entity.status == "active":
            return entity
        return None

    def account(self, account_sid: str) -> TwilioAccount | None:
        entity = self.config.get(f"account/twilio/{account_sid}")
        return entity if isinstance(entity, TwilioAccount) else None

    def all(self) -> list[TwilioAccount]:
        return [
            a for a in self.config.items("account/twilio/").values() if isinstance(a, TwilioAccount)
        ]

    def held(self, tenant_id: str) -> list[TwilioAccount]:
        """The Twilio accounts ``tenant_id`` holds."""
        return [a for a in self.all() if tenant_id in a.tenants]

    def account_of(self, tenant_id: str, account_sid: str | None) -> TwilioAccount:
        """The account a new campaign of ``tenant_id`` calls with: the one named (the tenant
        must hold it), else the only one it holds. InvalidCampaign says why not; an account
        the tenant does not hold reads as unknown (another tenant's is not revealed)."""
        if account_sid is not None:
            account = self.account(account_sid)
            if account is None or tenant_id not in account.tenants:
                raise InvalidCampaign(f"no Twilio account {account_sid} for this tenant")
            return account
        held = self.held(tenant_id)
        if not held:
            raise InvalidCampaign("this tenant holds no Twilio account to place calls with")
        if len(held) > 1:
            raise InvalidCampaign(
                "this tenant holds several Twilio accounts: name one in account_sid "
                f"({', '.join(sorted(a.id for a in held))})"
            )
        return held[0]

    def unowned_caller_ids(
        self, tenant_id: str, account_sid: str, numbers: Iterable[str]
    ) -> list[str]:
        """The ``numbers`` that are not phone channels of ``tenant_id`` on ``account_sid``
        (Twilio places a call only from a number of the account placing it)."""
        return [n for n in numbers if not self.owns(tenant_id, account_sid, n)]

    def owns(self, tenant_id: str, account_sid: str, number: str) -> bool:
        channel = self.config.get(f"channel/phone/{number}")
        return (
            isinstance(channel, Channel)
            and channel.tenant == tenant_id
            and channel.account_id == account_sid
        )

    def limits(self, tenant_id: str, account_sid: str) -> Limits | None:
        """The limits of a campaign of ``tenant_id`` on ``account_sid`` now; None when it
        may not call (the tenant is gone or suspended, or no longer holds the account)."""
        tenant = self.tenant(tenant_id)
        account = self.account(account_sid)
        if tenant is None or account is None or tenant_id not in account.tenants:
            return None
        plan = tenant.limits
        return Limits(
            account.cps, account.max_concurrent, plan.calls_per_second, plan.concurrent_calls
        )

    def credentials(self, account_sid: str) -> tuple[str, str] | None:
        """(username, password) of REST calls on ``account_sid`` now (its first API key, else
        its current auth token); None when it is not configured."""
        account = self.account(account_sid)
        return account.rest_auth() if account is not None else None
