"""asyncpg errors → ours: every error asyncpg can raise is classified, so none reaches the
consumer unclassified (an unclassified error is dead-lettered at once, a retryable one stalls
the batch until the database is back)."""

import asyncpg
import asyncpg.exceptions
import pytest

from switchboard.common.errors import PermanentError, RetryableError, translated
from switchboard.common.testing import exception_classes
from switchboard.history.adapters.pool import POSTGRES_ERRORS

ASYNCPG_ERRORS = exception_classes(asyncpg, asyncpg.exceptions, asyncpg.exceptions._base)


@pytest.mark.parametrize("error", ASYNCPG_ERRORS, ids=lambda c: c.__name__)
async def test_every_asyncpg_error_is_retryable_or_permanent(error: type[Exception]) -> None:
    raised = error("test")
    with pytest.raises((RetryableError, PermanentError)) as caught:
        async with translated("test", POSTGRES_ERRORS):
            raise raised
    assert caught.value.__cause__ is raised


@pytest.mark.parametrize(
    "error",
    [
        asyncpg.InternalClientError("cannot switch to state 12; another operation in progress"),
        asyncpg.AdminShutdownError("terminating connection due to administrator command"),
        asyncpg.CannotConnectNowError("the database system is starting up"),
        asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
        asyncpg.CheckViolationError("no partition of relation found for row"),
        ConnectionRefusedError(111, "Connect call failed"),
        TimeoutError(),
    ],
    ids=lambda e: type(e).__name__,
)
async def test_an_outage_is_retryable(error: Exception) -> None:
    with pytest.raises(RetryableError):
        async with translated("test", POSTGRES_ERRORS):
            raise error


@pytest.mark.parametrize(
    "error",
    [
        asyncpg.CharacterNotInRepertoireError("invalid byte sequence"),
        asyncpg.UniqueViolationError("duplicate key value violates unique constraint"),
    ],
    ids=lambda e: type(e).__name__,
)
async def test_refused_data_is_permanent(error: Exception) -> None:
    with pytest.raises(PermanentError):
        async with translated("test", POSTGRES_ERRORS):
            raise error
