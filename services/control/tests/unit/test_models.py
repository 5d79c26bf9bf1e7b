"""The pure rules: who may bind a channel, which scopes a key and a token get, API key shape."""

from datetime import UTC, datetime

import pytest

from switchboard.common.auth import Audience
from switchboard.common.config import Channel, TwilioAccount, WhatsAppAccount
from switchboard.control.errors import ChannelUnavailable, Forbidden, InvalidRequest, NotFound
from switchboard.control.models import (
    check_bind,
    check_manage_secrets,
    check_unbind,
    checked_scopes,
    issue_api_key,
    key_matches,
    parse_account,
    parse_api_key,
    token_scopes,
    token_ttl,
    with_secrets,
)

SID = "AC" + "1" * 32
NOW = datetime(2026, 12, 1, tzinfo=UTC)


def account(*tenants: str) -> TwilioAccount:
    return TwilioAccount(id=SID, tenants=tenants, auth_tokens=["auth-token-00000001"])


def phone(tenant: str) -> Channel:
    return Channel(kind="phone", id="+14155550100", tenant=tenant, account_id=SID)


def test_a_tenant_binds_free_and_own_channels_of_accounts_it_holds() -> None:
    check_bind("acme", phone("acme"), account("acme"), None)
    check_bind("acme", phone("acme"), account("acme"), phone("acme"))


@pytest.mark.parametrize(
    ("held_by", "existing"),
    [
        (("globex",), None),  # not its account
        (("acme",), phone("globex")),  # its account, another tenant's channel
        (("globex",), phone("globex")),  # neither
        (None, None),  # no such account
    ],
)
def test_every_refusal_of_a_tenant_is_the_same_error(held_by, existing) -> None:
    held = account(*held_by) if held_by else None
    with pytest.raises(ChannelUnavailable) as caught:
        check_bind("acme", phone("acme"), held, existing)
    assert str(caught.value) == str(ChannelUnavailable())


def test_the_operator_moves_channels_to_a_tenant_holding_the_account() -> None:
    check_bind(None, phone("acme"), account("acme", "globex"), phone("globex"))
    with pytest.raises(InvalidRequest, match="does not hold"):
        check_bind(None, phone("acme"), account("globex"), None)


def test_a_whatsapp_channel_names_a_waba_of_its_account() -> None:
    app = WhatsAppAccount(
        id="app", tenants=["acme"], app_secrets=["app-secret-00000001"], waba_ids=["10"]
    )
    number = Channel(kind="whatsapp", id="200", tenant="acme", account_id="app", waba_id="11")
    with pytest.raises(InvalidRequest, match="WABA"):
        check_bind("acme", number, app, None)


def test_unbind_and_secret_rotation_are_for_the_holder() -> None:
    assert check_unbind("acme", phone("acme")) == phone("acme")
    with pytest.raises(NotFound):
        check_unbind("acme", phone("globex"))
    with pytest.raises(NotFound):
        check_manage_secrets("acme", account("globex"))
    with pytest.raises(Forbidden, match="shared"):
        check_manage_secrets("acme", account("acme", "globex"))


def test_with_secrets_replaces_only_secret_fields_and_validates_them() -> None:
    rotated = with_secrets(account("acme"), {"auth_tokens": ["new-auth-token-000001"]})
    assert isinstance(rotated, TwilioAccount) and rotated.cps == 1.0
    with pytest.raises(InvalidRequest) as caught:
        with_secrets(account("acme"), {"auth_tokens": [""]})
    assert caught.value.errors[0]["key"] == "auth_tokens.0"
    with pytest.raises(InvalidRequest, match="not a secret field"):
        with_secrets(account("acme"), {"cps": 99})
    with pytest.raises(InvalidRequest, match="no provider"):
        parse_account({"provider": "fax"})


def test_api_keys_are_shown_once_and_stored_hashed() -> None:
    issued = issue_api_key("acme", "ci", {"history:read"}, NOW)
    parsed = parse_api_key(issued.plaintext)
    assert parsed is not None and parsed[0] == issued.record.id
    assert parsed[1].encode() not in issued.record.secret_hash
    assert key_matches(issued.record, parsed[1])
    assert not key_matches(issued.record, parsed[1] + "x")
    assert parse_api_key("sbk_only") is None and parse_api_key("bearer") is None


def test_key_scopes_are_known_and_tenants_admin_is_the_operators_alone() -> None:
    assert checked_scopes(None, ["tenants:admin"]) == {"tenants:admin"}
    for tenant, scopes in [
        (None, ["history:read"]),
        ("acme", ["tenants:admin"]),
        ("acme", ["history:delete"]),  # no such scope
        ("acme", []),
    ]:
        with pytest.raises(InvalidRequest):
            checked_scopes(tenant, scopes)
    with pytest.raises(Forbidden, match="more than its creator"):
        checked_scopes("acme", ["history:read"], within=frozenset({"control:read"}))


def test_a_token_carries_the_keys_scopes_for_its_audience_only() -> None:
    key = issue_api_key("acme", "k", {"history:read", "campaigns:write"}, NOW).record
    assert token_scopes(key, Audience.HISTORY, None) == {"history:read"}
    assert token_scopes(key, Audience.DIALER, None) == {"campaigns:write"}
    with pytest.raises(Forbidden, match="no scope"):
        token_scopes(key, Audience.AI, None)
    with pytest.raises(Forbidden, match="cannot grant"):
        token_scopes(key, Audience.HISTORY, ["campaigns:write"])
    assert token_ttl(None, 900, 3600).total_seconds() == 900
    with pytest.raises(InvalidRequest):
        token_ttl(7200, 900, 3600)
