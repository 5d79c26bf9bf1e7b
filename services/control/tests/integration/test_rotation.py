"""Key rotation on the real PostgreSQL (and Kafka for the signing keys): at-rest keys
re-encrypt every stored secret; signing keys overlap until the old one's tokens expired."""

from datetime import UTC, datetime, timedelta

import asyncpg
import jwt
import pytest

from switchboard.common.auth import Audience, TokenRejected, TokenVerifier
from switchboard.common.config import Tenant, TwilioAccount
from switchboard.common.crypto import KeyRingSettings, new_key
from switchboard.common.testing import eventually
from switchboard.control.app import open_plane
from switchboard.control.errors import StoreUnavailable

pytestmark = pytest.mark.integration

SID = "AC" + "e" * 32
TOKEN = "rotating-auth-token-01"


async def raw(settings, query: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(settings.postgres.dsn(settings.database))
    try:
        return list(await conn.fetch(query))
    finally:
        await conn.close()


def with_ring(settings, current: str, **keys: str):
    ring = KeyRingSettings(keys=keys, current_key_id=current)
    return settings.model_copy(update={"crypto": ring})


async def test_rotate_keys_reencrypts_every_secret_at_rest(settings) -> None:
    r1, r2 = settings.crypto.keys["r1"].get_secret_value(), new_key()
    async with open_plane(settings) as rt:
        await rt.plane.put_tenant(Tenant(id="acme", name="Acme"))
        account = TwilioAccount(id=SID, tenants=["acme"], auth_tokens=[TOKEN])
        await rt.plane.put_account(account)
        await rt.plane.ensure_signing_key()
    [row] = await raw(settings, "SELECT state::text, key_ids FROM accounts")
    assert row["key_ids"] == ["r1"] and TOKEN not in row["state"]

    # the new key alone cannot open what the old one sealed
    async with open_plane(with_ring(settings, "r2", r2=r2)) as rt:
        with pytest.raises(StoreUnavailable, match="at-rest key ring"):
            await rt.plane.account("twilio", SID)

    # both keys, the new one current: rotate-keys re-seals the account and the signing key
    async with open_plane(with_ring(settings, "r2", r1=r1, r2=r2)) as rt:
        assert await rt.outbox.reencrypt() == 2
        assert await rt.outbox.reencrypt() == 0  # nothing left under r1
    [row] = await raw(settings, "SELECT state::text, key_ids FROM accounts")
    assert row["key_ids"] == ["r2"] and '"kid": "r1"' not in row["state"]
    [key] = await raw(settings, "SELECT private_key ->> 'kid' AS kid FROM signing_keys")
    assert key["kid"] == "r2"

    # the old key can go: everything still opens, and tokens can still be signed
    async with open_plane(with_ring(settings, "r2", r2=r2)) as rt:
        stored = await rt.plane.account("twilio", SID)
        assert isinstance(stored, TwilioAccount)
        assert stored.auth_tokens[0].get_secret_value() == TOKEN
        issued = await rt.plane.create_api_key("acme", "t", ["history:read"])
        assert (await rt.plane.exchange(issued.plaintext, Audience.HISTORY)).access_token


async def test_signing_keys_rotate_without_invalidating_live_tokens(
    settings, start_api, follow, build_world, open_runtime
) -> None:
    async with start_api() as api, follow() as follower:
        world = await build_world(api)
        created = await world.admin(
            "POST", "/tenants/acme/api-keys", json={"name": "h", "scopes": ["history:read"]}
        )
        key = created.json()["key"]
        old_token = await world.token(key, "history")
        old_kid = jwt.get_unverified_header(old_token)["kid"]
        rotated = await world.admin("POST", "/signing-keys/rotate")
        new_kid = rotated.json()["kid"]
        new_token = await world.token(key, "history")
        assert jwt.get_unverified_header(new_token)["kid"] == new_kid != old_kid

        verifier = TokenVerifier("history", follower.public_keys())
        await eventually(lambda: f"signing-key/{new_kid}" in follower.signing_keys(), timeout_s=30)
        assert verifier.verify(old_token).tenant == verifier.verify(new_token).tenant == "acme"
        # the operator's token (signed by the old key) still works at the control API
        assert (await world.admin("GET", "/tenants")).status_code == 200

        # once every token of the old key has expired, the key is withdrawn (a tombstone)
        async with open_runtime() as rt:
            rt.plane.clock = lambda: datetime.now(UTC) + timedelta(hours=3)
            assert await rt.plane.withdraw_expired_signing_keys() == [old_kid]
        await eventually(
            lambda: f"signing-key/{old_kid}" not in follower.signing_keys(), timeout_s=30
        )
        with pytest.raises(TokenRejected, match="unknown signing key"):
            verifier.verify(old_token)
        assert verifier.verify(new_token).tenant == "acme"
