"""'No business on this channel' is remembered by the worker, and forgotten when the admin API
binds the channel (a business created on it, or a PATCH adding it): over real FerretDB."""

from collections.abc import AsyncIterator

import pytest
from litestar.testing import AsyncTestClient

from switchboard.ai.app import create_api
from switchboard.common.auth import Audience, LocalSigner

pytestmark = pytest.mark.integration
SIGNER = LocalSigner.from_seed("ai-tests")
AUTH = {"authorization": f"Bearer {SIGNER.token('acme', Audience.AI)}"}


@pytest.fixture
async def api(ai_settings, db, control) -> AsyncIterator[AsyncTestClient]:
    async with AsyncTestClient(app=create_api(ai_settings, control)) as c:
        yield c


BUSINESS = {
    "name": "Late Bakery",
    "system_prompt": "You are helpful.",
    "whatsapp_access_token": "wa-secret-token",
    "fallback_text": "Back soon.",
}


async def test_a_channel_bound_in_the_api_is_answered_at_the_next_poll(
    runtime, api, fakes, build
) -> None:
    await runtime.bindings.check()  # the worker has read the marker once
    first = build.inbound("w1", channel_id="2000001", seq=0)
    assert await runtime.handle(first) == "skipped_unknown_business"
    calls = _lookups(runtime)
    assert await runtime.handle(build.inbound("w2", channel_id="2000001", seq=1)) == (
        "skipped_unknown_business"
    )
    assert _lookups(runtime) == calls  # remembered: no datastore lookup for the burst

    created = await api.post(
        "/v1/businesses",
        json={**BUSINESS, "whatsapp_phone_number_ids": ["2000001"]},
        headers=AUTH,
    )
    assert created.status_code == 201, created.text
    assert await runtime.bindings.check()  # the marker moved: the negative entry is dropped
    assert await runtime.handle(build.inbound("w3", channel_id="2000001", seq=2)) == "replied"

    # A PATCH adding a channel binds it too.
    assert await runtime.handle(build.inbound("w4", channel_id="2000002", seq=3)) == (
        "skipped_unknown_business"
    )
    bid = created.json()["id"]
    patched = await api.patch(
        f"/v1/businesses/{bid}",
        json={"whatsapp_phone_number_ids": ["2000001", "2000002"]},
        headers=AUTH,
    )
    assert patched.status_code == 200, patched.text
    assert await runtime.bindings.check()
    assert await runtime.handle(build.inbound("w5", channel_id="2000002", seq=4)) == "replied"
    assert not await runtime.bindings.check()  # nothing bound since: nothing dropped


def _lookups(runtime) -> int:
    return runtime.cache.misses
