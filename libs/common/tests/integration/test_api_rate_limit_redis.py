"""The per-tenant limit with ``SWITCHBOARD_AUTH__RATE_LIMIT_STORE=redis``, on the real Redis:
two replicas of one API share it; another API on the same Redis database keeps its own."""

from typing import Any

import pytest
from litestar import Litestar, get
from litestar.di import NamedDependency, Provide
from litestar.testing import TestClient

from switchboard.common.auth import Audience, AuthSettings, LocalSigner, tenant_of
from switchboard.common.auth.service import api_auth
from switchboard.common.config import ConfigSettings
from switchboard.common.settings import CommonSettings, RedisSettings
from switchboard.common.testing import unique

pytestmark = pytest.mark.integration

SIGNER = LocalSigner()


class Settings(CommonSettings):
    auth: AuthSettings = AuthSettings()
    config: ConfigSettings = ConfigSettings()


@get("/v1/whoami", sync_to_thread=False)
def whoami(tenant: NamedDependency[str]) -> dict[str, Any]:
    return {"tenant": tenant}


def replica(redis: RedisSettings, audience: Audience) -> TestClient:  # type: ignore[type-arg]
    settings = Settings(
        auth=SIGNER.settings(rate_limit_per_second=3, rate_limit_store="redis"), redis=redis
    )
    api = api_auth(settings, audience)
    app = Litestar(
        route_handlers=[whoami],
        on_app_init=[api.on_app_init],
        lifespan=[api.lifespan],
        dependencies={"tenant": Provide(tenant_of, sync_to_thread=False)},
    )
    return TestClient(app)


def test_replicas_share_one_limit_and_each_api_has_its_own(
    common_settings: CommonSettings,
) -> None:
    redis = common_settings.redis
    with (
        replica(redis, Audience.HISTORY) as one,
        replica(redis, Audience.HISTORY) as two,
        replica(redis, Audience.DIALER) as other_api,
    ):
        refused_by_the_other_replica = []
        for _ in range(5):  # the limit's window is a clock second: one may end in between
            tenant = unique("acme")  # keys of this attempt's own
            history = SIGNER.bearer(tenant, Audience.HISTORY)
            codes: list[int] = []
            while 429 not in codes and len(codes) < 50:
                codes.append(one.get("/v1/whoami", headers=history).status_code)
            assert 429 in codes, codes
            # The second replica has not served this tenant yet: with a store of its own it
            # would answer 200 every time.
            refused_by_the_other_replica.append(
                two.get("/v1/whoami", headers=history).status_code == 429
            )
            # The dialer's API, on the same Redis database, has not been slowed by history's
            # burst: its keys are its own.
            dialer = SIGNER.bearer(tenant, Audience.DIALER)
            assert other_api.get("/v1/whoami", headers=dialer).status_code == 200
        assert any(refused_by_the_other_replica), refused_by_the_other_replica
