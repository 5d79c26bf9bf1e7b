"""The asyncpg pool of the store and of the query API, and which driver errors become which
of ours (:data:`POSTGRES_ERRORS`)."""

from typing import Final

import asyncpg

from switchboard.common.errors import ErrorTable, translated
from switchboard.history.errors import StoreRejectedError, StoreUnavailableError

POSTGRES_ERRORS: Final[ErrorTable] = (
    # "no partition for row": a day was dropped under us (the partitions are made again)
    (asyncpg.CheckViolationError, StoreUnavailableError),
    # bad encoding, NUL in text, out-of-range value: the same data fails every time
    ((asyncpg.DataError, asyncpg.IntegrityConstraintViolationError), StoreRejectedError),
    # anything else asyncpg raises (the server's errors, a lost connection and the client
    # state it leaves) may pass on a retry
    (
        (asyncpg.PostgresError, asyncpg.InterfaceError, asyncpg.InternalClientError, OSError),
        StoreUnavailableError,
    ),
)
"""asyncpg errors → ours (:func:`~switchboard.common.errors.translated`)."""


async def _no_session_state(conn: "asyncpg.Connection[asyncpg.Record]") -> None:
    """A released connection needs no reset query (``RESET ALL``, ``UNLISTEN *``, …): this
    service leaves no session state (no ``SET``, ``LISTEN``, held cursor or session advisory
    lock), and asyncpg rolls back a transaction left open anyway. One round trip less per
    batch."""


async def create_pool(
    dsn: str, min_size: int, max_size: int, server_settings: dict[str, str] | None = None
) -> "asyncpg.Pool[asyncpg.Record]":
    """A connection pool; JSON is passed as text, so no codecs are needed."""
    with translated("cannot connect to PostgreSQL", POSTGRES_ERRORS):
        return await asyncpg.create_pool(
            dsn,
            min_size=min_size,
            max_size=max_size,
            server_settings=server_settings,
            reset=_no_session_state,
        )
