"""asyncpg errors → ours: a PostgreSQL that is restarting, shutting down or out of connection
slots is an outage (retry), never bad data (dead letter)."""

import asyncpg
import asyncpg.exceptions
import pytest

from switchboard.common.errors import PermanentError, RetryableError, translated
from switchboard.common.testing import exception_classes
from switchboard.dialer.adapters.postgres import POSTGRES_ERRORS

OUTAGES = [
    asyncpg.CannotConnectNowError("the database system is starting up"),
    asyncpg.CannotConnectNowError("the database system is shutting down"),
    asyncpg.AdminShutdownError("terminating connection due to administrator command"),
    asyncpg.CrashShutdownError("terminating connection because of crash of another process"),
    asyncpg.TooManyConnectionsError("sorry, too many clients already"),
    asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
    asyncpg.InterfaceError("cannot perform operation: another operation is in progress"),
    asyncpg.InternalClientError("cannot switch to state 12; another operation in progress"),
    asyncpg.DeadlockDetectedError("deadlock detected"),
    ConnectionRefusedError(111, "Connect call failed"),
    TimeoutError(),
]
REFUSED_DATA = [
    asyncpg.DataError("invalid input syntax"),
    asyncpg.UniqueViolationError("duplicate key value violates unique constraint"),
    asyncpg.ForeignKeyViolationError("violates foreign key constraint"),
]


@pytest.mark.parametrize("error", OUTAGES, ids=lambda e: type(e).__name__)
def test_an_outage_is_retryable(error: Exception) -> None:
    with pytest.raises(RetryableError) as caught, translated("test", POSTGRES_ERRORS):
        raise error
    assert caught.value.__cause__ is error


@pytest.mark.parametrize("error", REFUSED_DATA, ids=lambda e: type(e).__name__)
def test_refused_data_is_permanent(error: Exception) -> None:
    with pytest.raises(PermanentError) as caught, translated("test", POSTGRES_ERRORS):
        raise error
    assert caught.value.__cause__ is error


@pytest.mark.parametrize(
    "error",
    exception_classes(asyncpg, asyncpg.exceptions, asyncpg.exceptions._base),
    ids=lambda c: c.__name__,
)
def test_every_asyncpg_error_is_retryable_or_permanent(error: type[Exception]) -> None:
    raised = error("test")
    with pytest.raises((RetryableError, PermanentError)), translated("test", POSTGRES_ERRORS):
        raise raised
