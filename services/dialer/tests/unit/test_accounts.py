"""The dialer's reading of the control plane's view: which account a tenant's campaign calls
with, which caller IDs it owns, its limits and credentials — read live at every lookup."""

import pytest
from pydantic import SecretStr

from switchboard.common.config import Tenant, TwilioAccount, TwilioApiKey
from switchboard.dialer.accounts import Accounts
from switchboard.dialer.errors import InvalidCampaign

from ..fakes import ACCOUNT, TOKEN, fake_config, fake_entities

OTHER = "AC" + "2" * 32


def _account(**update: object) -> TwilioAccount:
    [account] = [e for e in fake_entities() if isinstance(e, TwilioAccount)]
    return account.model_copy(update=update)


def test_a_campaign_takes_the_only_account_its_tenant_holds() -> None:
    accounts = Accounts(fake_config())
    assert accounts.account_of("acme", None).id == ACCOUNT
    assert accounts.account_of("globex", ACCOUNT).id == ACCOUNT  # shared by both


def test_an_account_the_tenant_does_not_hold_reads_as_unknown() -> None:
    config = fake_config()
    config.put(TwilioAccount(id=OTHER, tenants=("globex",), auth_tokens=(SecretStr("x" * 20),)))
    accounts = Accounts(config)
    with pytest.raises(InvalidCampaign) as refused:
        accounts.account_of("acme", OTHER)
    with pytest.raises(InvalidCampaign) as unknown:
        accounts.account_of("acme", "AC" + "3" * 32)
    assert str(refused.value) == str(unknown.value).replace("3" * 32, "2" * 32)
    # globex now holds two: it must say which
    with pytest.raises(InvalidCampaign, match="several"):
        accounts.account_of("globex", None)
    with pytest.raises(InvalidCampaign, match="holds no Twilio account"):
        accounts.account_of("initech", None)


def test_caller_ids_are_the_tenants_numbers_on_that_account() -> None:
    accounts = Accounts(fake_config())
    assert accounts.unowned_caller_ids("acme", ACCOUNT, ["+12125550100"]) == []
    # globex's number on the shared account is not acme's, and an unknown number nobody's
    assert accounts.unowned_caller_ids("acme", ACCOUNT, ["+16175550100", "+19995550100"]) == [
        "+16175550100",
        "+19995550100",
    ]
    assert accounts.unowned_caller_ids("globex", OTHER, ["+16175550100"]) == ["+16175550100"]


def test_limits_are_the_lowest_of_campaign_account_and_plan_and_follow_changes() -> None:
    config = fake_config()
    accounts = Accounts(config)
    limits = accounts.limits("acme", ACCOUNT)
    assert limits is not None and limits.cps(50) == 50 and limits.concurrent(20) == 20
    config.put(_account(cps=30, max_concurrent=8))
    limits = accounts.limits("acme", ACCOUNT)
    assert limits is not None and limits.cps(50) == 30 and limits.concurrent(20) == 8
    [acme] = [e for e in fake_entities() if isinstance(e, Tenant) and e.id == "acme"]
    plan = acme.limits.model_copy(update={"calls_per_second": 2.5, "concurrent_calls": 3})
    config.put(acme.model_copy(update={"limits": plan}))
    limits = accounts.limits("acme", ACCOUNT)
    assert limits is not None and limits.cps(50) == 2.5 and limits.concurrent(20) == 3
    config.put(acme.model_copy(update={"status": "suspended"}))
    assert accounts.limits("acme", ACCOUNT) is None
    config.put(_account(tenants=("globex",)))
    assert accounts.limits("globex", ACCOUNT) is not None
    assert accounts.limits("acme", ACCOUNT) is None


def test_credentials_follow_a_rotation_and_prefer_an_api_key() -> None:
    config = fake_config()
    accounts = Accounts(config)
    assert accounts.credentials(ACCOUNT) == (ACCOUNT, TOKEN)
    config.put(_account(auth_tokens=(SecretStr("rotated-token-0123456789"), SecretStr(TOKEN))))
    assert accounts.credentials(ACCOUNT) == (ACCOUNT, "rotated-token-0123456789")
    key = TwilioApiKey(sid="SK" + "a" * 32, secret=SecretStr("api-key-secret-0123456789"))
    config.put(_account(api_keys=(key,)))
    assert accounts.credentials(ACCOUNT) == ("SK" + "a" * 32, "api-key-secret-0123456789")
    config.delete(f"account/twilio/{ACCOUNT}")
    assert accounts.credentials(ACCOUNT) is None
