"""Outbox → control.config → ConfigFollower, on the real PostgreSQL and Kafka: a change made
through the API reaches a follower in seconds, a deletion removes it, secrets never travel in
plaintext, and a follower started while the control plane is down still has everything."""

from decimal import Decimal

import pytest

from switchboard.common.auth import TokenVerifier
from switchboard.common.config import Channel, ModelPrice, Tenant, TwilioAccount
from switchboard.common.testing import eventually, read_records, topic_configs

pytestmark = pytest.mark.integration

NUMBER = "+14155550123"


async def test_changes_reach_a_follower_live_and_deletions_remove_them(
    settings, start_api, follow, build_world
) -> None:
    async with start_api() as api, follow() as follower:
        world = await build_world(api)
        await eventually(lambda: "tenant/acme" in follower.tenants(), timeout_s=30)
        account_key = f"account/twilio/{world.sid_a}"
        await eventually(lambda: account_key in follower.accounts("twilio"), timeout_s=30)
        account = follower.get(account_key)
        assert isinstance(account, TwilioAccount)
        assert account.auth_tokens[0].get_secret_value() == "acme-auth-token-000001"

        bound = await api.put(
            f"/v1/channels/phone/{NUMBER}", json={"account_id": world.sid_a}, headers=world.a
        )
        assert bound.status_code == 200
        key = f"channel/phone/{NUMBER}"
        await eventually(lambda: key in follower.channels("phone"), timeout_s=30)
        channel = follower.get(key)
        assert isinstance(channel, Channel) and channel.tenant == "acme"

        # a rotation is live: both tokens during the overlap, then only the new one
        path = f"/v1/accounts/twilio/{world.sid_a}/secrets"
        overlap = {"auth_tokens": ["acme-auth-token-000002", "acme-auth-token-000001"]}
        assert (await api.put(path, json=overlap, headers=world.a)).status_code == 200

        def tokens() -> list[str]:
            got = follower.get(account_key)
            assert isinstance(got, TwilioAccount)
            return [t.get_secret_value() for t in got.auth_tokens]

        await eventually(lambda: len(tokens()) == 2, timeout_s=30)
        only_new = {"auth_tokens": ["acme-auth-token-000002"]}
        assert (await api.put(path, json=only_new, headers=world.a)).status_code == 200
        await eventually(lambda: tokens() == ["acme-auth-token-000002"], timeout_s=30)

        # an unbind is a tombstone: the channel leaves the view
        unbound = await api.delete(f"/v1/channels/phone/{NUMBER}", headers=world.a)
        assert unbound.status_code == 204
        await eventually(lambda: key not in follower.channels(), timeout_s=30)

        # limits set by the operator travel too
        patched = await world.admin(
            "PATCH", "/tenants/globex", json={"limits": {"calls_per_second": 3}}
        )
        assert patched.status_code == 200

        def globex_cps() -> float:
            tenant = follower.get("tenant/globex")
            return tenant.limits.calls_per_second if isinstance(tenant, Tenant) else 0.0

        await eventually(lambda: globex_cps() == 3, timeout_s=30)

        # the operator's models and prices: offered, repriced, withdrawn (a tombstone)
        prices = {"input_per_1k_usd": "0.00015", "output_per_1k_usd": "0.0006"}
        offered = await world.admin("PUT", "/models/gpt-4o-mini", json=prices)
        assert offered.status_code == 200, offered.text

        def price() -> Decimal | None:
            model = follower.get("model/gpt-4o-mini")
            return model.output_per_1k_usd if isinstance(model, ModelPrice) else None

        await eventually(lambda: price() == Decimal("0.0006"), timeout_s=30)
        repriced = {**prices, "output_per_1k_usd": "0.0008"}
        assert (await world.admin("PUT", "/models/gpt-4o-mini", json=repriced)).status_code == 200
        await eventually(lambda: price() == Decimal("0.0008"), timeout_s=30)
        listed = await world.admin("GET", "/models")
        assert [m["id"] for m in listed.json()] == ["gpt-4o-mini"]
        negative = await world.admin("PUT", "/models/free", json={**prices, "input_per_1k_usd": -1})
        assert negative.status_code == 422 and "input_per_1k_usd" in negative.text
        tenant_put = await api.put("/v1/admin/models/mine", json=prices, headers=world.a)
        assert tenant_put.status_code in (401, 403)  # a tenant cannot offer models
        assert (await world.admin("DELETE", "/models/gpt-4o-mini")).status_code == 204
        await eventually(lambda: follower.get("model/gpt-4o-mini") is None, timeout_s=30)
        assert (await world.admin("DELETE", "/models/gpt-4o-mini")).status_code == 404
    assert (await topic_configs(settings.kafka, settings.config.topic))["cleanup.policy"] == (
        "compact"
    )


async def test_secrets_never_travel_in_plaintext(settings, start_api, build_world) -> None:
    async with start_api() as api:
        world = await build_world(api)
        records = await read_records(
            settings.kafka,
            settings.config.topic,
            {},
            until=lambda rs: any(r.key == f"account/twilio/{world.sid_b}".encode() for r in rs),
            timeout_s=60,
        )
    values = b"".join(r.value or b"" for r in records)
    assert b'"auth_tokens":[{"kid":"d1"' in values
    for secret in (b"acme-auth-token", b"globex-auth-token", b"app-secret", b"webhook-secret"):
        assert secret not in values
    headers = dict(records[0].headers)
    assert headers["ce_type"].startswith(b"switchboard.config.")


async def test_a_follower_started_while_the_control_plane_is_down_has_everything(
    settings, start_api, follow, build_world
) -> None:
    async with start_api() as api:
        world = await build_world(api)
        await api.put(
            f"/v1/channels/phone/{NUMBER}", json={"account_id": world.sid_a}, headers=world.a
        )
        await api.put(
            "/v1/channels/whatsapp/9000001",
            json={"account_id": "wa-acme", "waba_id": "111"},
            headers=world.a,
        )
        await api.delete("/v1/channels/whatsapp/9000001", headers=world.a)
        async with follow() as live:  # wait until the relay has published all of it
            await eventually(lambda: f"channel/phone/{NUMBER}" in live.channels(), timeout_s=30)
            await eventually(lambda: "channel/whatsapp/9000001" not in live.items(), timeout_s=30)
            expected = set(live.items())
    # the control API is stopped now: a service starting reads the topic alone
    async with follow() as late:
        assert set(late.items()) == expected
        assert {"tenant/acme", "tenant/globex", f"channel/phone/{NUMBER}"} <= expected
        assert "channel/whatsapp/9000001" not in expected
        # and it verifies the control plane's tokens with the published keys
        assert late.signing_keys()
        async with start_api() as api_again:
            world.api = api_again
            created = await api_again.post(
                "/v1/admin/tenants/acme/api-keys",
                json={"name": "h", "scopes": ["history:read"]},
                headers=world.operator,
            )
            token = await world.token(created.json()["key"], "history")
        principal = TokenVerifier("history", late.public_keys()).verify(token)
        assert principal.tenant == "acme"
