"""ControlPlane over in-memory stores: token exchange, signing-key rotation, key creation."""

from datetime import timedelta

import jwt
import pytest

from switchboard.common.auth import Audience, Principal, TokenRejected, TokenVerifier
from switchboard.common.config import Tenant
from switchboard.control.errors import BadCredentials, Forbidden, NotFound


@pytest.fixture
async def acme(plane):
    await plane.put_tenant(Tenant(id="acme", name="Acme"))
    return plane


async def test_tokens_are_signed_by_the_active_key_and_verify_after_a_rotation(acme, clock):
    key = await acme.create_api_key("acme", "k", ["history:read"])
    first = await acme.exchange(key.plaintext, Audience.HISTORY)
    old_kid = jwt.get_unverified_header(first.access_token)["kid"]
    new_kid = await acme.rotate_signing_key()
    second = await acme.exchange(key.plaintext, Audience.HISTORY)
    assert jwt.get_unverified_header(second.access_token)["kid"] == new_kid != old_kid
    verifier = TokenVerifier("history", acme.public_keys, leeway_s=10**9)  # the fake clock
    assert verifier.verify(first.access_token).tenant == "acme"
    assert verifier.verify(second.access_token).scopes == {"history:read"}
    # the old key leaves once its tokens have all expired
    assert await acme.withdraw_expired_signing_keys() == []
    clock.now += timedelta(seconds=acme.tokens.max_ttl_s + 120)
    assert await acme.withdraw_expired_signing_keys() == [old_kid]
    with pytest.raises(TokenRejected, match="unknown signing key"):
        verifier.verify(first.access_token)


async def test_a_fresh_install_gets_its_first_signing_key_once(plane):
    kid = await plane.ensure_signing_key()
    assert await plane.ensure_signing_key() == kid


async def test_bad_keys_get_one_answer_and_suspended_tenants_no_token(acme):
    key = await acme.create_api_key("acme", "k", ["history:read"])
    for presented in ("sbk_nope_nope", "garbage", key.plaintext + "x"):
        with pytest.raises(BadCredentials, match="invalid API key"):
            await acme.exchange(presented, Audience.HISTORY)
    await acme.update_tenant("acme", status="suspended")
    with pytest.raises(Forbidden, match="suspended"):
        await acme.exchange(key.plaintext, Audience.HISTORY)


async def test_a_tenant_key_creates_keys_within_its_own_scopes(acme):
    parent = await acme.create_api_key("acme", "admin", ["keys:admin", "history:read"])
    me = Principal(tenant="acme", subject=parent.record.id, scopes=frozenset({"keys:admin"}))
    child = await acme.create_api_key("acme", "ro", ["history:read"], creator=me)
    assert child.record.scopes == {"history:read"}
    with pytest.raises(Forbidden):
        await acme.create_api_key("acme", "rw", ["campaigns:write"], creator=me)
    await acme.revoke_api_key(parent.record.id, "acme")
    with pytest.raises(Forbidden, match="gone"):
        await acme.create_api_key("acme", "late", ["history:read"], creator=me)
    with pytest.raises(NotFound):
        await acme.revoke_api_key(child.record.id, "globex")
    with pytest.raises(NotFound):
        await acme.create_api_key("nobody", "k", ["history:read"])
