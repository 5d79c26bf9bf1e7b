"""Channels belong to one tenant; a tenant's refused bind reveals nothing about other tenants;
only the operator moves a channel. On the real PostgreSQL."""

import pytest

pytestmark = pytest.mark.integration

B_NUMBER, FREE_NUMBER = "+14155550111", "+14155550199"


async def bind(world, who: dict[str, str], kind: str, channel_id: str, **body: str):
    return await world.api.put(f"/v1/channels/{kind}/{channel_id}", json=body, headers=who)


async def test_a_tenant_cannot_bind_another_tenants_channels_and_learns_nothing(
    world,
) -> None:
    # B binds a number, a phone_number_id and an agent on its own accounts
    assert (
        await bind(world, world.b, "phone", B_NUMBER, account_id=world.sid_b)
    ).status_code == 200
    wa = await bind(world, world.b, "whatsapp", "9000002", account_id="wa-globex", waba_id="222")
    assert wa.status_code == 200, wa.text
    agent = await bind(world, world.b, "elevenlabs-agent", "agent-b", account_id="el-b")
    assert agent.status_code == 200

    refusals = [
        # B's channels, named with A's own accounts
        await bind(world, world.a, "phone", B_NUMBER, account_id=world.sid_a),
        await bind(world, world.a, "whatsapp", "9000002", account_id="wa-acme", waba_id="111"),
        await bind(world, world.a, "elevenlabs-agent", "agent-b", account_id="el-a"),
        # B's channels, named with B's accounts
        await bind(world, world.a, "phone", B_NUMBER, account_id=world.sid_b),
        await bind(world, world.a, "elevenlabs-agent", "agent-b", account_id="el-b"),
        # a free number on B's account, and on an account nobody has
        await bind(world, world.a, "phone", FREE_NUMBER, account_id=world.sid_b),
        await bind(world, world.a, "phone", FREE_NUMBER, account_id="AC" + "c" * 32),
        await bind(world, world.a, "whatsapp", "9000009", account_id="wa-nobody", waba_id="1"),
    ]
    answers = {(r.status_code, r.text) for r in refusals}
    assert len(answers) == 1, answers  # one answer, whoever holds what
    status, text = answers.pop()
    assert status == 403
    assert "globex" not in text and "exist" not in text

    # nothing moved; A binds a free number of its own account as usual
    channels = (await world.api.get("/v1/channels", headers=world.b)).json()
    assert {c["id"] for c in channels} == {B_NUMBER, "9000002", "agent-b"}
    assert (
        await bind(world, world.a, "phone", FREE_NUMBER, account_id=world.sid_a)
    ).status_code == 200
    assert [c["id"] for c in (await world.api.get("/v1/channels", headers=world.a)).json()] == [
        FREE_NUMBER
    ]


async def test_unbinding_or_reading_anothers_channel_looks_like_nothing_is_there(
    world,
) -> None:
    assert (
        await bind(world, world.b, "phone", B_NUMBER, account_id=world.sid_b)
    ).status_code == 200
    theirs = await world.api.delete(f"/v1/channels/phone/{B_NUMBER}", headers=world.a)
    nothing = await world.api.delete(f"/v1/channels/phone/{FREE_NUMBER}", headers=world.a)
    assert (theirs.status_code, theirs.text) == (nothing.status_code, nothing.text)
    assert theirs.status_code == 404
    accounts = (await world.api.get("/v1/accounts", headers=world.a)).json()
    assert {a["id"] for a in accounts} == {world.sid_a, "wa-acme", "el-a"}


async def test_only_the_operator_moves_a_channel(world) -> None:
    assert (
        await bind(world, world.b, "phone", B_NUMBER, account_id=world.sid_b)
    ).status_code == 200
    # A may not, even after it is given a share of B's account
    shared = await world.admin(
        "PUT",
        f"/accounts/twilio/{world.sid_b}",
        json={"tenants": ["globex", "acme"], "auth_tokens": ["globex-auth-token-000001"]},
    )
    assert shared.status_code == 200, shared.text
    assert (
        await bind(world, world.a, "phone", B_NUMBER, account_id=world.sid_b)
    ).status_code == 403
    moved = await world.admin(
        "PUT", f"/channels/phone/{B_NUMBER}", json={"tenant": "acme", "account_id": world.sid_b}
    )
    assert moved.status_code == 200 and moved.json()["tenant"] == "acme"
    assert [c["id"] for c in (await world.api.get("/v1/channels", headers=world.b)).json()] == []
    # the operator cannot place a channel with a tenant that does not hold its account
    refused = await world.admin(
        "PUT",
        f"/channels/phone/{FREE_NUMBER}",
        json={"tenant": "globex", "account_id": world.sid_a},
    )
    assert refused.status_code == 422 and "does not hold" in refused.text
    # a holder that still has channels on the account cannot be dropped from it
    dropped = await world.admin(
        "PUT",
        f"/accounts/twilio/{world.sid_b}",
        json={"tenants": ["globex"], "auth_tokens": ["globex-auth-token-000001"]},
    )
    assert dropped.status_code == 409


async def test_channel_ids_are_checked_per_kind(world) -> None:
    bad = await bind(world, world.a, "phone", "4155550100", account_id=world.sid_a)
    assert bad.status_code == 422 and bad.json()["extra"][0]["key"] == "channel_id"
    wrong_waba = await bind(
        world, world.a, "whatsapp", "9000001", account_id="wa-acme", waba_id="999"
    )
    assert wrong_waba.status_code == 422 and "WABA" in wrong_waba.text
    assert (await bind(world, world.a, "fax", "1", account_id=world.sid_a)).status_code == 404


async def test_tenant_endpoints_are_not_for_operator_tokens_and_vice_versa(world) -> None:
    assert (await world.api.get("/v1/channels", headers=world.operator)).status_code == 403
    assert (await world.api.get("/v1/admin/tenants", headers=world.a)).status_code == 403
    assert (await world.api.get("/v1/admin/tenants")).status_code == 401
    listed = await world.admin("GET", "/tenants")
    assert [t["id"] for t in listed.json()] == ["acme", "globex"]


async def test_the_operator_lists_everything_or_one_tenants_share(world) -> None:
    assert (
        await bind(world, world.b, "phone", B_NUMBER, account_id=world.sid_b)
    ).status_code == 200
    accounts = await world.admin("GET", "/accounts")
    assert accounts.status_code == 200, accounts.text
    assert len(accounts.json()) == 6
    mine = await world.admin("GET", "/accounts", params={"tenant": "acme"})
    assert {a["id"] for a in mine.json()} == {world.sid_a, "wa-acme", "el-a"}
    channels = await world.admin("GET", "/channels", params={"tenant": "globex"})
    assert [c["id"] for c in channels.json()] == [B_NUMBER]
    assert (await world.admin("GET", "/channels", params={"tenant": "acme"})).json() == []
    keys = await world.admin("GET", "/api-keys", params={"tenant": "acme"})
    assert [k["name"] for k in keys.json()] == ["control"]
    operators = await world.admin("GET", "/api-keys")
    assert [k["scopes"] for k in operators.json()] == [["tenants:admin"]]


async def test_deleting_goes_channels_then_accounts_then_tenant(world) -> None:
    assert (
        await bind(world, world.b, "phone", B_NUMBER, account_id=world.sid_b)
    ).status_code == 200
    assert (await world.admin("DELETE", "/tenants/globex")).status_code == 409
    assert (await world.admin("DELETE", f"/accounts/twilio/{world.sid_b}")).status_code == 409
    assert (await world.admin("DELETE", f"/channels/phone/{B_NUMBER}")).status_code == 204
    for path in (f"/accounts/twilio/{world.sid_b}", "/accounts/whatsapp/wa-globex"):
        assert (await world.admin("DELETE", path)).status_code == 204
    assert (await world.admin("GET", f"/accounts/twilio/{world.sid_b}")).status_code == 404
    assert (await world.admin("DELETE", "/tenants/globex")).status_code == 409  # el-b is left
    assert (await world.admin("DELETE", "/accounts/elevenlabs/el-b")).status_code == 204
    assert (await world.admin("DELETE", "/tenants/globex")).status_code == 204
    assert (await world.admin("GET", "/tenants/globex")).status_code == 404
    # a token it got before is refused from now on (and its keys are gone)
    refused = await world.api.get("/v1/channels", headers=world.b)
    assert refused.status_code == 403 and "suspended or deleted" in refused.text
    assert (await world.admin("GET", "/api-keys", params={"tenant": "globex"})).json() == []
