"""errors.translated: driver errors become ours by a service's table, in ``with`` and
``async with`` alike; others pass unchanged."""

import pytest

from switchboard.common.errors import PermanentError, RetryableError, translated


class Down(RetryableError):
    pass


class Refused(PermanentError):
    pass


class DriverError(Exception):
    pass


class BadValue(DriverError):
    pass


class Duplicate(DriverError):
    pass


TABLE = ((Duplicate, None), (BadValue, Refused), ((DriverError, OSError), Down))


def test_the_first_matching_row_decides() -> None:
    error = BadValue("nope")
    with pytest.raises(Refused) as caught, translated("saving", TABLE):
        raise error
    assert caught.value.__cause__ is error
    assert str(caught.value) == "saving: BadValue('nope')"
    with pytest.raises(Down), translated("saving", TABLE):
        raise ConnectionResetError()


def test_a_row_without_an_error_of_ours_lets_the_driver_error_through() -> None:
    with pytest.raises(Duplicate), translated("saving", TABLE):
        raise Duplicate()


def test_errors_outside_the_table_pass_unchanged() -> None:
    with pytest.raises(KeyError), translated("saving", TABLE):
        raise KeyError("x")


async def test_async_with_translates_the_same() -> None:
    with pytest.raises(Down):
        async with translated("saving", TABLE):
            raise DriverError()
    async with translated("saving", TABLE):
        pass  # nothing raised: nothing translated
