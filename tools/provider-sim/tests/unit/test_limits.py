"""Account limits and observations, on a fake clock."""

import pytest

from switchboard.providersim.limits import AccountLimiter, TwilioError
from switchboard.providersim.settings import TwilioAccountConfig


def limiter(**limits) -> AccountLimiter:
    return AccountLimiter(TwilioAccountConfig(auth_token="t", **limits))


def test_calls_within_cps_start_at_once_and_faster_ones_are_paced():
    lim = limiter(cps=2, queue_size=10)
    assert lim.admit_call(0.0) == 0.0
    assert lim.admit_call(0.0) == pytest.approx(0.5)
    assert lim.admit_call(0.1) == pytest.approx(0.9)
    assert lim.admit_call(5.0) == 0.0
    assert lim.max_observed_cps == 3 and lim.cps_breaches == 1


def test_a_full_queue_refuses_with_22005():
    lim = limiter(cps=1, queue_size=1)
    lim.admit_call(0.0)
    lim.admit_call(0.0)
    with pytest.raises(TwilioError) as err:
        lim.admit_call(0.0)
    assert err.value.code == 22005 and lim.queue_overflows == 1
    assert lim.admit_call(10.0) == 0.0  # the queue drained


def test_concurrency_refuses_with_10004_until_a_call_ends():
    lim = limiter(cps=100, max_concurrent_calls=1)
    lim.admit_call(0.0)
    with pytest.raises(TwilioError) as err:
        lim.admit_call(1.0)
    assert err.value.code == 10004
    lim.call_ended()
    lim.admit_call(2.0)
    assert lim.report()["breaches"]["concurrency"] == 1


def test_request_concurrency_refuses_with_20429():
    lim = limiter(max_concurrent_requests=2)
    lim.begin_request()
    lim.begin_request()
    with pytest.raises(TwilioError) as err:
        lim.begin_request()
    assert err.value.body() == {
        "code": 20429,
        "message": "Too Many Requests",
        "more_info": "https://www.twilio.com/docs/errors/20429",
        "status": 429,
    }
    lim.end_request()
    lim.begin_request()
    assert lim.max_observed_requests == 2 and lim.request_breaches == 1
